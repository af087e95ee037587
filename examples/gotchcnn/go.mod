module example.com/gotchcnn

go 1.26.0
