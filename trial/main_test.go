package trial

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// asTrainEnv makes the test binary `autodropout train` (TestMain), so that
// Launch can start ranks that run this package's code, as the built
// command's ranks do.
const asTrainEnv = "AUTODROPOUT_TEST_AS_TRAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asTrainEnv) == "1" && len(os.Args) > 1 && os.Args[1] == "train" {
		s, err := ParseArgs(os.Args[2:])
		if err == nil {
			s.Output = os.Stdout
			_, err = Run(context.Background(), s)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
