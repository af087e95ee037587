package distributed

// MaskSeed is the seed of rank's random masks (dropout and the
// regularizers) for a run whose single-process seed is seed: rank 0 keeps
// seed, so a one-process run is rank 0 of one; rank r > 0 uses
// seed + r·0x9E3779B97F4A7C15 (wrapping), so ranks draw independent masks
// on their different examples, as each of PyTorch DDP's processes does
// from its own generator. The initialization and the data order do not
// depend on the rank (rank 0's weights are broadcast; the shards come from
// one permutation).
func MaskSeed(seed int64, rank int) int64 {
	const golden = -7046029254386353131 // 0x9E3779B97F4A7C15 as int64
	return seed + int64(rank)*golden
}
