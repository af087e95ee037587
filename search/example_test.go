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
