package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/autodropout/autodropout/autodropout"
)

// pyBridge talks to scripts/bench_pytorch.py --serve.
type pyBridge struct {
	python, version string
	cmd             *exec.Cmd
	in              io.WriteCloser
	out             *bufio.Reader
	stderr          *bytes.Buffer
}

func findPython(python string) (string, error) {
	if python != "" {
		return exec.LookPath(python)
	}
	// Debian's python3-torch is installed for the system Python, which a
	// pyenv or virtualenv on PATH may hide.
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3", nil
	}
	return exec.LookPath("python3")
}

func findScript(script string) (string, error) {
	if _, err := os.Stat(script); err == nil {
		return script, nil
	}
	if !filepath.IsAbs(script) {
		if exe, err := os.Executable(); err == nil { // bin/autodropout next to scripts/
			alt := filepath.Join(filepath.Dir(exe), "..", script)
			if _, err := os.Stat(alt); err == nil {
				return alt, nil
			}
		}
	}
	return "", fmt.Errorf("%s not found (run from the repository root or give --pytorch-script)", script)
}

func startPyTorch(python, script string, threads int) (*pyBridge, error) {
	py, err := findPython(python)
	if err != nil {
		return nil, fmt.Errorf("no python3: %w", err)
	}
	sc, err := findScript(script)
	if err != nil {
		return nil, err
	}
	p := &pyBridge{python: py, cmd: exec.Command(py, sc, "--serve"), stderr: &bytes.Buffer{}}
	// One intra-op thread count for both sides, set through the protocol;
	// OpenMP's variable would also pin ours.
	p.cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	p.cmd.Stderr = p.stderr
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.out = bufio.NewReaderSize(stdout, 1<<20)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", py, err)
	}
	var hello struct{ Torch, Torchvision string }
	if err := p.call(map[string]any{"op": "hello"}, &hello); err != nil {
		p.close()
		return nil, err
	}
	p.version = "torch " + hello.Torch + ", torchvision " + hello.Torchvision
	if err := p.call(map[string]any{"op": "threads", "n": threads}, nil); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// call sends one request and decodes the answer into resp (may be nil).
func (p *pyBridge) call(req any, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("bench_pytorch.py: %w%s", err, p.stderrTail())
	}
	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("bench_pytorch.py exited: %w%s", err, p.stderrTail())
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &status); err != nil {
		return fmt.Errorf("bench_pytorch.py: bad answer %q: %w", line, err)
	}
	if !status.OK {
		return errors.New("bench_pytorch.py: " + status.Error)
	}
	if resp != nil {
		return json.Unmarshal(line, resp)
	}
	return nil
}

func (p *pyBridge) stderrTail() string {
	s := strings.TrimSpace(p.stderr.String())
	if s == "" {
		return ""
	}
	return "\n" + s[max(0, len(s)-2000):]
}

func (p *pyBridge) build(id string, spec map[string]any) (int64, error) {
	var r struct{ Params int64 }
	err := p.call(map[string]any{"op": "build", "id": id, "spec": spec}, &r)
	return r.Params, err
}

// run times steps of a built model; on a GPU peak is the largest memory in
// tensors during them (bytes; 0 on the CPU).
func (p *pyBridge) run(id string, steps int) (times []float64, peak float64, err error) {
	var r struct {
		Times []float64
		Peak  float64 `json:"peak_bytes"`
	}
	err = p.call(map[string]any{"op": "run", "id": id, "steps": steps}, &r)
	return r.Times, r.Peak, err
}

func (p *pyBridge) mask(pat autodropout.Pattern, shape []int64, reps int) ([]float64, error) {
	var r struct{ Times []float64 }
	err := p.call(map[string]any{"op": "mask", "spec": map[string]any{"pattern": pat, "shape": shape}, "reps": reps}, &r)
	return r.Times, err
}

func (p *pyBridge) close() {
	p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}
