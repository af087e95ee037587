// Package data reads the datasets autodropout trains on and feeds them to
// models in batches.
//
// Fashion-MNIST and MNIST come as IDX files (gzipped or not); Debian's
// dataset-fashion-mnist package installs them under
// /usr/share/datasets/fashion-mnist. Readers check what they read and name
// the file and the problem when it is truncated or malformed.
package data
