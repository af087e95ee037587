package data

import (
	"context"
	"os"
	"testing"
)

func BenchmarkZZStream(b *testing.B) {
	dir := os.Getenv("ZZDIR")
	f, err := ScanImageFolder(dir, FolderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		l, _ := NewFolderLoader(f, StreamConfig{BatchSize: 64, Shuffle: true, Workers: 1, Transform: ImageTransform{Train: true}})
		for range l.Epoch(context.Background(), i) {
		}
	}
}
