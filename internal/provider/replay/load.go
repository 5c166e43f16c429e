package replay

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxDataset bounds a dataset file.
const maxDataset = 512 << 20

// Load reads the answers of model from a dataset file (.csv or .jsonl).
func Load(path, model string) ([]Record, error) {
	f, err := os.Open(path) // #nosec G304 -- resolve keeps path inside the operator's replay directory
	if err != nil {
		return nil, fmt.Errorf("replay dataset: %w", err)
	}
	defer f.Close()
	r := io.LimitReader(f, maxDataset+1)
	var recs []Record
	if strings.EqualFold(filepath.Ext(path), ".jsonl") {
		recs, err = ReadJSONL(r, model)
	} else {
		recs, err = ReadCSV(r, model)
	}
	if err != nil {
		return nil, fmt.Errorf("replay dataset %s: %w", filepath.Base(path), err)
	}
	return recs, nil
}

// ReadCSV reads a CSV in the columns of RouteLLM's evaluation files: a
// prompt column, and for the model a True/False column named after it and
// its answer in "<model>_response". A file without the response column
// (MMLU's), or an empty answer, gives a placeholder answer that does not
// say whether the model was right.
func ReadCSV(r io.Reader, model string) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimPrefix(h, "\ufeff")] = i
	}
	p, ok := col["prompt"]
	if !ok {
		return nil, fmt.Errorf("no prompt column (columns: %s)", strings.Join(head, ", "))
	}
	if model == "" {
		return nil, fmt.Errorf("settings.model (or the deployment's upstream_model) must name the model's column")
	}
	resp, hasResp := col[model+"_response"]
	ok1, hasOK := col[model]
	if !hasResp && !hasOK {
		return nil, fmt.Errorf("no column %q or %q (columns: %s)", model, model+"_response", strings.Join(head, ", "))
	}
	var recs []Record
	for line := 2; ; line++ {
		row, err := cr.Read()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, err
		}
		rec := Record{Prompt: field(row, p)}
		if hasOK {
			if rec.Correct, err = parseBool(field(row, ok1)); err != nil {
				return nil, fmt.Errorf("line %d: column %s: want True or False, got %q", line, model, field(row, ok1))
			}
		}
		if hasResp {
			rec.Response = strings.TrimSpace(field(row, resp))
		}
		if rec.Response == "" {
			rec.Response = noText
		}
		recs = append(recs, rec)
	}
}

// noText is the answer of a dataset that records only whether the model
// was right (MMLU's): it never says which, or a scorer could read the
// answer key.
const noText = "(no recorded answer text)"

func field(row []string, i int) string {
	if i < len(row) {
		return row[i]
	}
	return ""
}

// jsonlRecord is one line of a JSONL dataset.
type jsonlRecord struct {
	Prompt    string   `json:"prompt"`
	Response  string   `json:"response"`
	Model     string   `json:"model"`
	Correct   *bool    `json:"correct"`
	LatencyMS *float64 `json:"latency_ms"`
}

// ReadJSONL reads one {"prompt", "response", "model", "correct",
// "latency_ms"} object a line; lines of another model are skipped (a line
// without model is every model's).
func ReadJSONL(r io.Reader, model string) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var recs []Record
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var x jsonlRecord
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&x); err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		if x.Prompt == "" {
			return nil, fmt.Errorf("line %d: prompt is required", line)
		}
		if x.Model != "" && model != "" && x.Model != model {
			continue
		}
		rec := Record{Prompt: x.Prompt, Response: x.Response, Correct: x.Correct}
		if x.LatencyMS != nil {
			if !(*x.LatencyMS >= 0 && *x.LatencyMS <= 600_000) {
				return nil, fmt.Errorf("line %d: latency_ms must be between 0 and 600000", line)
			}
			rec.Latency = time.Duration(*x.LatencyMS * float64(time.Millisecond))
		}
		if rec.Response == "" {
			rec.Response = noText
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}
