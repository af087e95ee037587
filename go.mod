module github.com/autodropout/autodropout

go 1.23

require github.com/sugarme/gotch v0.9.1
