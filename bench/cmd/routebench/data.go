package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// question is one recorded question: each model's answer (empty when the
// dataset has none, as MMLU's) and whether it was right.
type question struct {
	Prompt  string
	Subject string
	Right   map[string]bool
	Answer  map[string]string
}

// dataset is a CSV in the columns of the RouteLLM files: prompt, optional
// subject, and per model a True/False column and, optionally, its
// <model>_response.
type dataset struct {
	Models    []string
	Questions []question
}

// readDataset reads a RouteLLM-format CSV.
func readDataset(path string) (*dataset, error) {
	f, err := os.Open(path) // #nosec G304 -- the benchmark reads the files it is told to
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	if _, ok := col["prompt"]; !ok {
		return nil, fmt.Errorf("%s: no prompt column", path)
	}
	d := &dataset{}
	for _, h := range head {
		if h != "prompt" && h != "subject" && !strings.HasSuffix(h, "_response") {
			d.Models = append(d.Models, h)
		}
	}
	for line := 2; ; line++ {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		q := question{Prompt: row[col["prompt"]], Right: map[string]bool{}, Answer: map[string]string{}}
		if i, ok := col["subject"]; ok {
			q.Subject = row[i]
		}
		for _, m := range d.Models {
			b, err := strconv.ParseBool(strings.TrimSpace(row[col[m]]))
			if err != nil {
				return nil, fmt.Errorf("%s line %d: column %s: %w", path, line, m, err)
			}
			q.Right[m] = b
			if i, ok := col[m+"_response"]; ok {
				q.Answer[m] = strings.TrimSpace(row[i])
			}
		}
		d.Questions = append(d.Questions, q)
	}
	return d, nil
}

// split shuffles the questions with seed and halves them: train, test.
func split(qs []question, seed uint64) (train, test []question) {
	qs = append([]question(nil), qs...)
	r := rand.New(rand.NewPCG(seed, 0x5917)) // #nosec G404 -- a reproducible split, not a secret
	r.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	return qs[:len(qs)/2], qs[len(qs)/2:]
}

// writeReplay writes questions as a RouteLLM-format CSV the replay
// deployments read (answers included when there are any).
func writeReplay(path string, models []string, qs []question) error {
	f, err := os.Create(path) // #nosec G304 -- a file in the benchmark's own temp dir
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	head := []string{"prompt"}
	head = append(head, models...)
	for _, m := range models {
		head = append(head, m+"_response")
	}
	if err := w.Write(head); err != nil {
		f.Close()
		return err
	}
	for _, q := range qs {
		row := []string{q.Prompt}
		for _, m := range models {
			row = append(row, strconv.FormatBool(q.Right[m]))
		}
		for _, m := range models {
			row = append(row, q.Answer[m])
		}
		if err := w.Write(row); err != nil {
			f.Close()
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
