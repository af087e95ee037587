package trial_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/autodropout/autodropout/trial"
)

// A Spec's zero fields are its defaults; Args gives the flags of
// `autodropout train` that say the same, which is how a search's trials
// reach their child processes.
func ExampleSpec_Args() {
	s := trial.Spec{Model: "wrn-16-2", Data: "cifar10", Epochs: 10,
		Regularizer: trial.Regularizer{Name: "dropblock", DropRate: 0.1}, SkipTest: true}
	fmt.Println(strings.Join(s.Args(), " "))
	// Output: --model wrn-16-2 --data cifar10 --epochs 10 --regularizer dropblock --drop-rate 0.1 --test=false
}

// Run trains in this process. This trains the default ConvNet on
// Fashion-MNIST for one epoch with a pattern file, as
// `autodropout train --pattern my-patterns.json --out runs/mine` does.
func ExampleRun() {
	s := trial.Spec{Regularizer: trial.Regularizer{Pattern: "my-patterns.json"}, Out: "runs/mine", Output: os.Stdout}
	res, err := trial.Run(context.Background(), s)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("validation accuracy %.4f\n", *res.ValAcc)
}
