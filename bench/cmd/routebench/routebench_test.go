package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/bench/sim"
	"github.com/chorusgw/chorus/internal/config"
)

const sample = "../../../internal/provider/replay/testdata/gsm8k_sample.csv"

func TestDataset(t *testing.T) {
	d, err := readDataset(sample)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Questions) != 160 || checkModels(d) != nil {
		t.Fatalf("%d questions, models %v", len(d.Questions), d.Models)
	}
	a1, b1 := split(d.Questions, 3)
	a2, _ := split(d.Questions, 3)
	a3, _ := split(d.Questions, 4)
	if len(a1) != 80 || len(b1) != 80 || a1[0].Prompt != a2[0].Prompt || a1[0].Prompt == a3[0].Prompt && a1[1].Prompt == a3[1].Prompt {
		t.Fatal("the split is not a seeded half")
	}
	p := filepath.Join(t.TempDir(), "r.csv")
	if err := writeReplay(p, []string{cheapColumn, strongColumn}, a1); err != nil {
		t.Fatal(err)
	}
	back, err := readDataset(p)
	if err != nil || len(back.Questions) != 80 || back.Questions[5].Answer[strongColumn] != a1[5].Answer[strongColumn] ||
		back.Questions[5].Right[cheapColumn] != a1[5].Right[cheapColumn] {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := readDataset(filepath.Join(t.TempDir(), "none.csv")); err == nil {
		t.Fatal("a missing file reads")
	}
	if _, _, err := gsm8kSplit(options{train: sample}); err == nil {
		t.Fatal("-train without -test accepted")
	}
}

func TestArms(t *testing.T) {
	cheap := []outcome{{"c", 1, true}, {"c", 1, false}, {"c", 1, false}, {"c", 1, true}}
	strong := []outcome{{"s", 10, true}, {"s", 10, true}, {"s", 10, false}, {"s", 10, true}}
	s := summarize("strong", strong, "s", 0, 0)
	if s.Accuracy != 0.75 || s.Cost != 40e-6 || s.StrongShare != 1 {
		t.Fatalf("%+v", s)
	}
	o := oracle(cheap, strong, "s", s.Cost, s.Accuracy)
	if o.Accuracy != 0.75 || o.Cost != 24e-6 || o.StrongShare != 0.5 || o.CostRatio != 0.6 || o.QualityPct != 1 {
		t.Fatalf("oracle %+v", o)
	}
	if r := randomArm(cheap, strong, "s", 0, s.Cost, s.Accuracy, 1); r.StrongShare != 0 || r.Accuracy != 0.5 {
		t.Fatalf("random at 0%%: %+v", r)
	}
}

// TestGSM8KSample runs the whole GSM8K task on the committed sample through
// an in-process gateway: training through feedback, then every arm.
func TestGSM8KSample(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway and sends ~2,000 requests")
	}
	d, err := readDataset(sample)
	if err != nil {
		t.Fatal(err)
	}
	train, test := split(d.Questions, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	g, err := sim.Start(ctx, nil, func(c *config.Config) {
		c.Upstreams.ReplayDir = dir
		c.Usage.FlushInterval = 20 * time.Millisecond
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	b := &bench{o: options{seed: 16, explore: 0.8, target: 0.9, concurrency: 4}, c: &client{g: g}, dir: dir}
	task, err := b.gsm8k(ctx, train, test)
	if err != nil {
		t.Fatal(err)
	}
	arms := map[string]Arm{}
	for _, a := range task.Arms {
		arms[strings.SplitN(a.Name, " (", 2)[0]] = a
	}
	cheapAlone, strongAlone := arms["Mixtral alone"], arms["GPT-4 alone"]
	if strongAlone.CostRatio != 1 || strongAlone.StrongShare != 1 || cheapAlone.StrongShare != 0 || cheapAlone.CostRatio > 0.1 {
		t.Fatalf("single-model arms: %+v %+v", cheapAlone, strongAlone)
	}
	if n := len(task.Curve); n != len(curveThresholds) || task.Learned == nil || task.Learned.Examples != int64(len(train)) {
		t.Fatalf("curve %d points, learned %+v", n, task.Learned)
	}
	if task.Calibration == nil || task.HeldOutAcc == nil {
		t.Fatalf("calibration %v, held-out accuracy %v", task.Calibration, task.HeldOutAcc)
	}
	var md bytes.Buffer
	(&result{GSM8K: task}).markdown(&md)
	if !strings.Contains(md.String(), "RouteLLM (published)") || !strings.Contains(md.String(), "| 0.70 |") {
		t.Fatalf("markdown:\n%s", md.String())
	}
}
