// Package report aggregates the runs of chaos output directories (as
// chaos/cmd/chaos writes them: OUT/seed-N/{config.json, history.jsonl,
// results.json, summary.txt}) into one reliability report, rendered as
// Markdown for docs/reliability.md.
//
// Each run's history is judged again with chaos/checker (the history is
// the record; results.json may come from an older checker), unless
// Options.Recorded asks for the results.json the run wrote. A run kept
// without its history (scripts/chaos-keep keeps a run's config, summary
// and results in the repository; histories are megabytes) is judged by the
// results.json it recorded, and the report says how many were. A run is
// invalid when its history shows an anomaly, errored when it did not
// complete (its summary says so, or its history cannot be read) without
// showing one, valid otherwise.
package report

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/chaos/checker"
	"github.com/samsa-io/samsa/chaos/history"
)

// Config is what config.json records of a run's settings (chaos/cmd/chaos
// writes it; older runs lack it).
type Config struct {
	Target   string   `json:"target"`
	Version  string   `json:"version"`
	Seed     uint64   `json:"seed"`
	Layout   string   `json:"layout"`
	Duration string   `json:"duration"`
	Quiet    string   `json:"quiet"`
	Faults   []string `json:"faults"`
	Started  string   `json:"started"`
	// RequestTimeout is the producers' Produce request timeout ("" in
	// runs from before it was recorded: the clients' defaults).
	RequestTimeout string `json:"request_timeout,omitempty"`
}

// Run is one seed's run.
type Run struct {
	Seed   uint64
	Dir    string
	Config *Config // nil if config.json is missing
	// Summary is the line of summary.txt ("" if missing); Layout is from
	// the config, else from the summary.
	Summary string
	Layout  string
	// Err says why the run did not complete ("" if it did).
	Err string
	// Result is the checker's judgement of the history, nil if there is
	// none to judge.
	Result *checker.Result
	// Recorded is the validity results.json recorded (nil if missing):
	// when it disagrees with Result, the checker has changed since.
	Recorded *bool
	// FromRecord says Result is the recorded results.json, because the
	// history was not kept (or Options.Recorded asked for it).
	FromRecord bool
	Crashes    int // node exits the harness did not cause (summary)
}

// Status is how a run ended.
type Status string

const (
	Valid   Status = "valid"
	Invalid Status = "invalid"
	Errored Status = "errored"
)

// Status classifies the run.
func (r *Run) Status() Status {
	if r.Result != nil && !r.Result.Valid() {
		return Invalid
	}
	if r.Err != "" || r.Result == nil {
		return Errored
	}
	return Valid
}

// Options tune Load.
type Options struct {
	// Seeds, if not empty, are the only seeds to load.
	Seeds []uint64
	// Recorded uses each run's results.json instead of judging its
	// history again.
	Recorded bool
}

// Load reads every seed-N directory of dir.
func Load(dir string, opts Options) ([]*Run, error) {
	return LoadAll([]string{dir}, opts)
}

// LoadAll reads every seed-N directory of each of dirs: the runs of one
// batch and those kept from earlier ones, say. A seed of one target found
// in two of them is an error: the report would count it twice. (The same
// seed against samsa and against the Kafka reference is two runs.)
func LoadAll(dirs []string, opts Options) ([]*Run, error) {
	var runs []*Run
	type key struct {
		target string
		seed   uint64
	}
	where := map[key]string{}
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			// seed-N, or kafka-seed-N for a run against the Kafka
			// reference kept beside samsa's (scripts/chaos-keep).
			s, ok := strings.CutPrefix(strings.TrimPrefix(e.Name(), KafkaTarget+"-"), "seed-")
			if !ok || !e.IsDir() {
				continue
			}
			seed, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				continue
			}
			if len(opts.Seeds) > 0 && !slices.Contains(opts.Seeds, seed) {
				continue
			}
			r, err := LoadRun(filepath.Join(dir, e.Name()), seed, opts)
			if err != nil {
				return nil, err
			}
			k := key{seed: seed}
			if r.Config != nil && r.Config.Target == KafkaTarget {
				k.target = KafkaTarget
			}
			if other, dup := where[k]; dup {
				return nil, fmt.Errorf("seed %d is in both %s and %s", seed, other, dir)
			}
			where[k] = dir
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("%s: no seed-N directories", strings.Join(dirs, ", "))
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Seed < runs[j].Seed })
	return runs, nil
}

// LoadRun reads one run's directory. Missing or unreadable run files make
// the run errored; only an error of the file system itself is returned.
func LoadRun(dir string, seed uint64, opts Options) (*Run, error) {
	r := &Run{Seed: seed, Dir: dir}
	var errs []string
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		var c Config
		if err := json.Unmarshal(b, &c); err != nil {
			errs = append(errs, "config.json: "+err.Error())
		} else {
			r.Config = &c
			r.Layout = c.Layout
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "summary.txt")); err == nil {
		r.Summary = strings.TrimSpace(string(b))
		f := summaryFields(r.Summary)
		if r.Layout == "" {
			r.Layout = f["layout"]
		}
		r.Crashes, _ = strconv.Atoi(f["crashes"])
		if i := strings.Index(r.Summary, " error: "); i >= 0 {
			errs = append(errs, r.Summary[i+len(" error: "):])
		} else if !strings.HasSuffix(r.Summary, " complete") {
			errs = append(errs, "summary.txt does not say the run completed")
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, "no summary.txt (the run did not finish)")
	} else {
		return nil, err
	}
	var recorded *checker.Result
	if b, err := readResults(dir); err == nil {
		var res struct {
			Valid bool `json:"valid"`
			checker.Result
		}
		if err := json.Unmarshal(b, &res); err != nil {
			errs = append(errs, "results.json: "+err.Error())
		} else {
			r.Recorded = &res.Valid
			recorded = &res.Result
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	hpath := filepath.Join(dir, "history.jsonl")
	if _, err := os.Stat(hpath); errors.Is(err, fs.ErrNotExist) && recorded != nil {
		opts.Recorded = true // kept without its history
	}
	if opts.Recorded {
		if recorded == nil {
			errs = append(errs, "no results.json")
		}
		r.Result, r.FromRecord = recorded, recorded != nil
	} else {
		f, err := os.Open(hpath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, "no history.jsonl")
		case err != nil:
			return nil, err
		default:
			ops, rerr := history.Read(bufio.NewReader(f))
			f.Close()
			if rerr != nil {
				errs = append(errs, rerr.Error())
			} else {
				r.Result = checker.Check(ops, checker.Options{})
			}
		}
	}
	r.Err = strings.Join(errs, "; ")
	return r, nil
}

// summaryFields are the key=value words of a summary line.
func summaryFields(line string) map[string]string {
	m := map[string]string{}
	for _, w := range strings.Fields(line) {
		if k, v, ok := strings.Cut(w, "="); ok {
			if _, dup := m[k]; !dup {
				m[k] = v
			}
		}
	}
	return m
}

// readResults reads a run's results.json, or the results.json.gz that
// scripts/chaos-keep keeps instead.
func readResults(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	f, err := os.Open(filepath.Join(dir, "results.json.gz"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("results.json.gz: %w", err)
	}
	// A kept results file is tens of kilobytes; bound it all the same.
	b, err = io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("results.json.gz: %w", err)
	}
	return b, nil
}
