// Command routebench measures Chorus's cascades on real model answers
// (issue #16): it replays RouteLLM's recorded GSM8K answers of
// Mixtral-8x7B-Instruct and GPT-4-1106-preview through an in-process
// gateway with replay deployments, trains the learned scorer by posting
// each training answer's true outcome to /v1/feedback as a user would,
// then reports accuracy and cost on the test questions for each model
// alone, the cascade with each shipped rule scorer, the learned scorer
// (calibrated to a target, and across thresholds) and the oracle; and the
// same for MMLU with a prompt-only decision (route before calling). See
// bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/chorusgw/chorus/bench/sim"
	"github.com/chorusgw/chorus/internal/config"
)

// The two models of the RouteLLM files and their list prices (data
// README), in micro-credits per million tokens (1 credit = $1).
const (
	cheapColumn  = "mistralai/Mixtral-8x7B-Instruct-v0.1"
	strongColumn = "gpt-4-1106-preview"
	cheapIn      = 600_000
	cheapOut     = 600_000
	strongIn     = 10_000_000
	strongOut    = 30_000_000
)

// options are the command line flags.
type options struct {
	data        string
	train, test string
	mmlu        string
	mmluN       int
	seed        uint64
	explore     float64
	target      float64
	concurrency int
	latencyMS   float64
	jsonOut     bool
	out         string
	timeLimit   time.Duration
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "routebench:", err)
		os.Exit(2)
	}
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.data, "data", "../shared/data/routellm", "directory of the RouteLLM files (gsm8k_responses.csv, mmlu_correctness.csv)")
	flag.StringVar(&o.train, "train", "", "training questions (CSV in the RouteLLM columns); default: a seeded half of -data's gsm8k_responses.csv")
	flag.StringVar(&o.test, "test", "", "test questions (CSV in the RouteLLM columns); default: the other half")
	flag.StringVar(&o.mmlu, "mmlu", "", "MMLU file for the prompt-only decision; default -data's mmlu_correctness.csv; \"none\" skips it")
	flag.IntVar(&o.mmluN, "mmlu-questions", 4000, "MMLU questions to use (a seeded sample; 0: all)")
	flag.Uint64Var(&o.seed, "seed", 16, "seed of the splits and the training order")
	flag.Float64Var(&o.explore, "explore", 0.8, "the cascade's config.explore while training")
	flag.Float64Var(&o.target, "target", 0.95, "the cascade's config.target.min_quality_ratio on the test questions")
	flag.IntVar(&o.concurrency, "concurrency", 8, "requests in flight")
	flag.Float64Var(&o.latencyMS, "latency-ms", 0, "the replay deployments' latency_ms (0: answer at once)")
	flag.BoolVar(&o.jsonOut, "json", false, "print one JSON object at the end instead of Markdown")
	flag.StringVar(&o.out, "o", "", "also write the JSON object to this file")
	flag.DurationVar(&o.timeLimit, "timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	return o
}

func run() error {
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeLimit)
	defer cancel()

	train, test, err := gsm8kSplit(o)
	if err != nil {
		return err
	}
	var mmlu *dataset
	if o.mmlu != "none" {
		path := o.mmlu
		if path == "" {
			path = filepath.Join(o.data, "mmlu_correctness.csv")
		}
		if mmlu, err = readDataset(path); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "routebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	g, err := sim.Start(ctx, nil, func(c *config.Config) {
		c.Upstreams.ReplayDir = dir
		c.Usage.FlushInterval = 20 * time.Millisecond
	})
	if err != nil {
		return err
	}
	defer g.Close()
	b := &bench{o: o, c: &client{g: g}, dir: dir}
	started := time.Now()
	res := result{Seed: o.seed, Started: started.UTC().Format(time.RFC3339)}
	if res.GSM8K, err = b.gsm8k(ctx, train, test); err != nil {
		return fmt.Errorf("gsm8k: %w", err)
	}
	if mmlu != nil {
		if res.MMLU, err = b.mmlu(ctx, mmlu); err != nil {
			return fmt.Errorf("mmlu: %w", err)
		}
	}
	res.Seconds = time.Since(started).Seconds()
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, append(js, '\n'), 0o600); err != nil {
			return err
		}
	}
	if o.jsonOut {
		fmt.Println(string(js))
		return nil
	}
	res.markdown(os.Stdout)
	return nil
}

// gsm8kSplit returns the training and test questions: -train and -test, or
// a seeded half split of the shared file.
func gsm8kSplit(o options) (train, test []question, err error) {
	if (o.train == "") != (o.test == "") {
		return nil, nil, fmt.Errorf("give both -train and -test, or neither")
	}
	if o.train != "" {
		tr, err := readDataset(o.train)
		if err != nil {
			return nil, nil, err
		}
		te, err := readDataset(o.test)
		if err != nil {
			return nil, nil, err
		}
		return tr.Questions, te.Questions, checkModels(tr, te)
	}
	d, err := readDataset(filepath.Join(o.data, "gsm8k_responses.csv"))
	if err != nil {
		return nil, nil, err
	}
	if err := checkModels(d); err != nil {
		return nil, nil, err
	}
	train, test = split(d.Questions, o.seed)
	return train, test, nil
}

// checkModels makes sure the files have both models' outcomes.
func checkModels(ds ...*dataset) error {
	for _, d := range ds {
		has := map[string]bool{}
		for _, m := range d.Models {
			has[m] = true
		}
		if !has[cheapColumn] || !has[strongColumn] {
			return fmt.Errorf("the questions need the columns %s and %s (found %v)", cheapColumn, strongColumn, d.Models)
		}
	}
	return nil
}
