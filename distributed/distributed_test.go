package distributed

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestEnvFrom(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		ok   bool
		want Env
		err  string
	}{
		{vars: map[string]string{}, ok: false},
		{vars: map[string]string{"WORLD_SIZE": "2", "RANK": "1", "MASTER_PORT": "29500"}, ok: true,
			want: Env{Addr: "127.0.0.1", Port: 29500, Rank: 1, WorldSize: 2, LocalRank: 1}},
		{vars: map[string]string{"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "MASTER_ADDR": "node0", "MASTER_PORT": "1234"}, ok: true,
			want: Env{Addr: "node0", Port: 1234, Rank: 3, WorldSize: 4, LocalRank: 1}},
		{vars: map[string]string{"WORLD_SIZE": "2", "MASTER_PORT": "29500"}, ok: true, err: "RANK"},
		{vars: map[string]string{"WORLD_SIZE": "2", "RANK": "2", "MASTER_PORT": "29500"}, ok: true, err: "RANK=2"},
		{vars: map[string]string{"WORLD_SIZE": "two", "RANK": "0", "MASTER_PORT": "29500"}, ok: true, err: `WORLD_SIZE="two"`},
		{vars: map[string]string{"WORLD_SIZE": "2", "RANK": "0", "MASTER_PORT": "70000"}, ok: true, err: "MASTER_PORT=70000"},
	} {
		env, ok, err := envFrom(func(k string) (string, bool) { v, ok := tc.vars[k]; return v, ok })
		if ok != tc.ok {
			t.Errorf("%v: ok %v, want %v", tc.vars, ok, tc.ok)
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want one naming %s", tc.vars, err, tc.err)
			}
			continue
		}
		if err != nil || env != tc.want {
			t.Errorf("%v: %+v, %v; want %+v", tc.vars, env, err, tc.want)
		}
	}
}

func TestEnvVarsRoundTrip(t *testing.T) {
	e := Env{Addr: "10.0.0.1", Port: 4000, Rank: 2, WorldSize: 3, LocalRank: 0}
	m := map[string]string{}
	for _, kv := range e.Vars() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	got, ok, err := envFrom(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
	if !ok || err != nil || got != e {
		t.Errorf("Vars then envFrom: %+v %v %v, want %+v", got, ok, err, e)
	}
}

func TestMaskSeed(t *testing.T) {
	if MaskSeed(7, 0) != 7 {
		t.Errorf("rank 0's mask seed %d, want the run's seed 7", MaskSeed(7, 0))
	}
	seen := map[int64]int{}
	for r := 0; r < 64; r++ {
		s := MaskSeed(7, r)
		if q, dup := seen[s]; dup {
			t.Fatalf("ranks %d and %d share mask seed %d", q, r, s)
		}
		seen[s] = r
	}
}

func TestRankError(t *testing.T) {
	err := exec.Command("sh", "-c", "kill -9 $$").Run()
	re := &RankError{Rank: 1, Pid: 42, Err: err}
	if !strings.Contains(re.Error(), "rank 1 (pid 42) was killed by signal killed") {
		t.Errorf("%q", re.Error())
	}
	err = exec.Command("sh", "-c", "exit 3").Run()
	re = &RankError{Rank: 0, Pid: 7, Err: err}
	if re.Error() != "rank 0 (pid 7) exited with status 3" {
		t.Errorf("%q", re.Error())
	}
	var ee *exec.ExitError
	if !errors.As(re, &ee) {
		t.Error("RankError does not unwrap to the exit error")
	}
}

// TestJoinNamesMissingRank: rank 0 of two, alone, gives up after the
// timeout and names rank 1.
func TestJoinNamesMissingRank(t *testing.T) {
	if !Available() {
		t.Skip(ErrUnavailable)
	}
	port, err := FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	g, err := Join(context.Background(), Env{Addr: "127.0.0.1", Port: port, Rank: 0, WorldSize: 2}, &Options{Timeout: 2 * time.Second})
	if err == nil {
		g.Close(errors.New("unexpected"))
		t.Fatal("rank 0 joined a group of two alone")
	}
	if !strings.Contains(err.Error(), "rank 1 never joined") {
		t.Errorf("error does not name rank 1: %v", err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("gave up after %s with a 2 s timeout", d)
	}
}

// TestLaunchReportsFailedRank: Launch returns the first rank that fails
// and stops the others after the grace period.
func TestLaunchReportsFailedRank(t *testing.T) {
	err := Launch(context.Background(), 2, func(env Env) *exec.Cmd {
		if env.Rank == 1 {
			return exec.Command("sh", "-c", "exit 4")
		}
		return exec.Command("sleep", "60")
	}, &LaunchOptions{Grace: 100 * time.Millisecond})
	var re *RankError
	if !errors.As(err, &re) || re.Rank != 1 {
		t.Fatalf("Launch: %v, want rank 1's failure", err)
	}
}
