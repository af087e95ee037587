package strictjson

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type pattern struct {
	Size   int     `json:"size"`
	Stride int     `json:"stride"`
	Rotate float64 `json:"rotate"`
	ShareC bool    `json:"share_c"`
}

type sitePattern struct {
	Site    string  `json:"site"`
	Pattern pattern `json:"pattern"`
}

type base struct {
	Seed int64 `json:"seed"`
}

type task struct {
	Model       string `json:"model"`
	TrainSubset int    `json:"train_subset"`
	Epochs      int    `json:"epochs,omitempty"`
}

type level int

func (l *level) UnmarshalText(b []byte) error {
	if string(b) != "low" && string(b) != "high" {
		return errors.New("want low or high")
	}
	return nil
}

type config struct {
	base
	Budget   int               `json:"budget"`
	Task     task              `json:"task"`
	Patterns []sitePattern     `json:"patterns"`
	Extra    map[string]task   `json:"extra"`
	Any      any               `json:"any"`
	Level    level             `json:"level"`
	Timeout  time.Duration     `json:"timeout"`
	Quoted   int               `json:"quoted,string"`
	Ptr      *task             `json:"ptr"`
	Grid     [][]float64       `json:"grid"`
	Skip     string            `json:"-"`
	Names    map[string]string `json:"names"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      string // the error's text; "" for none
		line, col int
	}{
		{"ok", `{"seed": 3, "budget": 8, "task": {"model": "wrn-16-2"}, "any": {"x": [1, {"y": 2}]}, "level": "low", "quoted": "4", "ptr": {"epochs": 2}, "grid": [[1, 2.5]], "names": {"a": "b"}}`, "", 0, 0},
		{"case-insensitive key, as encoding/json", `{"Budget": 8}`, "", 0, 0},
		{"null", `{"task": null, "budget": null}`, "", 0, 0},
		{"string for an integer", "{\n  \"budget\": \"8\"\n}", `line 2 col 13: budget: got the string "8", want an integer`, 2, 13},
		{"fraction for an integer", `{"task": {"train_subset": 1.5}}`, `line 1 col 27: task.train_subset: got the number 1.5, want an integer`, 1, 27},
		{"object for a string", `{"task": {"model": {}}}`, `task.model: got an object, want a string`, 1, 20},
		{"list element", `{"grid": [[1, "x"]]}`, `grid[0][1]: got the string "x", want a number`, 1, 15},
		{"unknown key typo", "{\n \"task\": {\n  \"train_subst\": 100\n }\n}", `line 3 col 3: task: unknown field "train_subst"; did you mean "train_subset"?`, 3, 3},
		{"unknown key in a list", "{\"patterns\": [\n  {\"site\": \"a\", \"pattern\": {\"size\": 1}},\n  {\"site\": \"b\",\n   \"pattern\": {\"size\": 1,\n     \"stide\": 2}}\n], \"budget\": 1}",
			`line 5 col 6: patterns[1].pattern: unknown field "stide"; did you mean "stride"?`, 5, 6},
		{"unknown key far from all", `{"zzzzzz": 1}`, `unknown field "zzzzzz"; known fields: budget, task, patterns, extra, any, level, timeout, quoted, ptr, grid, names, seed`, 1, 2},
		{"promoted field known", `{"seed": 1, "sede": 2}`, `unknown field "sede"; did you mean "seed"?`, 1, 13},
		{"map value", `{"extra": {"a": {"modle": "x"}}}`, `extra.a: unknown field "modle"; did you mean "model"?`, 1, 18},
		{"pointer", `{"ptr": {"epoch": 1}}`, `ptr: unknown field "epoch"; did you mean "epochs"?`, 1, 10},
		{"dash field is unknown", `{"Skip": "x"}`, `unknown field "Skip"`, 1, 2},
		{"own unmarshaler", `{"level": "medium"}`, `want low or high`, 0, 0},
		{"malformed", "{\n \"budget\": 8,\n}", `line 3 col 1: malformed JSON: invalid character '}' looking for beginning of object key string`, 3, 1},
		{"truncated", `{"budget": 8`, `malformed JSON: unexpected end of file (truncated?)`, 1, 13},
		{"empty", ``, `empty file, want a JSON value`, 0, 0},
		{"trailing", "{\"budget\": 8}\n{}", `line 2 col 1: unexpected data after the JSON value`, 2, 1},
		{"out of range", `{"patterns": [{"pattern": {"size": 1e30}}]}`, `patterns[0].pattern.size: got the number 1e30, want an integer`, 1, 36},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c config
			err := Decode([]byte(tc.doc), &c)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not an *Error", err)
			}
			if e.Line != tc.line || e.Col != tc.col {
				t.Errorf("at line %d col %d, want line %d col %d", e.Line, e.Col, tc.line, tc.col)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"stide", "stride", 1}, {"train_subst", "train_subset", 1}, {"ab", "ba", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
