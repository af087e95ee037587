module example.com/gotchcnn

go 1.26.0

require (
	github.com/autodropout/autodropout v0.0.0
	github.com/sugarme/gotch v0.9.1
)
