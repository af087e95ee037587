package train

import (
	"fmt"

	"github.com/autodropout/autodropout/configs"
	"github.com/autodropout/autodropout/internal/strictjson"
	"github.com/autodropout/autodropout/nn"
)

// LMRecipe is a language-model recipe file (configs/transformer-xl-*.json):
// the Transformer-XL's sizes and dropout rates, and how to train it.
type LMRecipe struct {
	Model     nn.TransformerXLConfig `json:"model"`
	Optimizer string                 `json:"optimizer"`
	LR        float64                `json:"lr"`
	Clip      float64                `json:"clip"`
	MaxStep   int                    `json:"max_step"`
	BatchSize int64                  `json:"batch_size"`
	EvalBatch int64                  `json:"eval_batch_size"`
	Source    string                 `json:"source,omitempty"` // where the values come from
}

// ReadLMRecipe reads a recipe file, strictly: an unknown or mistyped
// field is an error with its line, column and path.
func ReadLMRecipe(path string) (LMRecipe, error) {
	var c LMRecipe
	b, err := configs.ReadFile(path) // the repository's recipes are built in
	if err != nil {
		return c, fmt.Errorf("language-model recipe: %w", err)
	}
	if err := strictjson.Decode(b, &c); err != nil {
		return c, fmt.Errorf("language-model recipe %s: %w", path, err)
	}
	return c, nil
}
