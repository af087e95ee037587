package search_test

import (
	"fmt"

	"github.com/autodropout/autodropout/search"
)

// Rewards are validation accuracy for classifiers and 80/perplexity for
// language models.
func ExampleReward() {
	acc, _ := search.Reward(map[string]float64{"val_acc": 0.91})
	lm, _ := search.Reward(map[string]float64{"val_ppl": 64})
	_, err := search.Reward(map[string]float64{"train_loss": 0.3})
	fmt.Println(acc, lm)
	fmt.Println(err)
	// Output:
	// 0.91 1.25
	// result has neither val_acc nor val_ppl
}

// SiteMaps measures the map each dropout site of a model sees, here a
// WRN-16-2 on Fashion-MNIST: its groups work on 28×28, 14×14 and 7×7 maps.
func ExampleSiteMaps() {
	maps, err := search.SiteMaps(search.Task{Model: "wrn-16-2", Data: "fashion-mnist"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, site := range []string{"block1.layer.0.bn2", "block2.layer.0.bn2", "block3.layer.1.bn2"} {
		fmt.Println(site, maps[site])
	}
	// Output:
	// block1.layer.0.bn2 [28 28]
	// block2.layer.0.bn2 [14 14]
	// block3.layer.1.bn2 [7 7]
}
