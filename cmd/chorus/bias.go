package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/bias"
)

// Bias runs go through a running gateway's admin API, so they exercise
// the production instance's routes, deployments, health and limits, and
// are stored where the console and later runs see them.
const biasUsage = `Usage:
  chorus bias suites
  chorus bias run --model M --suite S [--suite-file F] [--tasks a,b] [--attributes a,b]
                  [--repetitions N] [--seed N] [--max-requests N] [--judge-model J] [--wait 30m] [--all] [--json]
  chorus bias runs [--model M] [--suite S] [--status pass|fail|error|running]
  chorus bias show [--all] [--json] ID
  chorus bias compare ID ID...

They call the admin API of a running gateway: --url (or CHORUS_URL, default
http://127.0.0.1:8080) with an admin's API key, --key (or CHORUS_ADMIN_KEY).
"bias run" exits with status 1 when the run fails or ends in error.
`

// biasClient calls the bias admin API.
type biasClient struct {
	base, key string
	http      *http.Client
}

// errBiasFailed is the exit status of a run that did not pass.
var errBiasFailed = errors.New("bias run did not pass")

func cmdBias(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, biasUsage)
		return fmt.Errorf("bias: want a subcommand: suites, run, runs, show or compare")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("bias "+sub, flag.ContinueOnError)
	fs.SetOutput(out)
	base := fs.String("url", envOr("CHORUS_URL", "http://127.0.0.1:8080"), "the gateway's address")
	key := fs.String("key", os.Getenv("CHORUS_ADMIN_KEY"), "an admin's API key")
	o := biasFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *key == "" {
		return fmt.Errorf("bias: give an admin's API key with --key or CHORUS_ADMIN_KEY")
	}
	c := &biasClient{base: strings.TrimRight(*base, "/"), key: *key, http: &http.Client{Timeout: time.Minute}}
	switch sub {
	case "suites":
		return c.suites(ctx, out)
	case "run":
		return c.run(ctx, out, o)
	case "runs":
		return c.list(ctx, out, o)
	case "show":
		return c.show(ctx, out, fs.Arg(0), o)
	case "compare":
		return c.compare(ctx, out, fs.Args())
	}
	fmt.Fprint(out, biasUsage)
	return fmt.Errorf("bias: unknown subcommand %q", sub)
}

// biasOptions are the bias subcommands' flags.
type biasOptions struct {
	model, suite, suiteFile, tasks, attributes, judge, status *string
	repetitions, maxRequests                                  *int
	seed                                                      *int64
	wait                                                      *time.Duration
	all, json                                                 *bool
}

func biasFlags(fs *flag.FlagSet) biasOptions {
	return biasOptions{
		model:       fs.String("model", "", "the model or route to test"),
		suite:       fs.String("suite", "", "a suite's name (chorus bias suites)"),
		suiteFile:   fs.String("suite-file", "", "a suite definition (YAML or JSON) to run instead of a named suite"),
		tasks:       fs.String("tasks", "", "only these tasks, comma-separated"),
		attributes:  fs.String("attributes", "", "vary only these attributes, comma-separated"),
		judge:       fs.String("judge-model", "", "a judge model for the judge metric"),
		status:      fs.String("status", "", "list only runs in this status"),
		repetitions: fs.Int("repetitions", 0, "sends per prompt (0: the suite's)"),
		maxRequests: fs.Int("max-requests", 0, "refuse the run if it needs more calls (0: the server's cap)"),
		seed:        fs.Int64("seed", 0, "seed of the run (same seed, same run)"),
		wait:        fs.Duration("wait", 30*time.Minute, "how long to wait for the run"),
		all:         fs.Bool("all", false, "print every result, not only the failing ones and the largest gaps"),
		json:        fs.Bool("json", false, "print the run as JSON"),
	}
}

func (c *biasClient) suites(ctx context.Context, out io.Writer) error {
	var list struct{ Data []bias.SuiteInfo }
	if err := c.do(ctx, "GET", "/api/admin/bias/suites", nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTASKS\tATTRIBUTES\tREQUESTS\tSOURCE")
	for _, s := range list.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Name, strings.Join(s.Tasks, ","), strings.Join(s.Attributes, ","), s.Requests, s.Source)
	}
	return tw.Flush()
}

// run starts a run, waits for it and prints its report.
func (c *biasClient) run(ctx context.Context, out io.Writer, o biasOptions) error {
	req := bias.Request{Model: *o.model, Suite: *o.suite, Tasks: split(*o.tasks), Attributes: split(*o.attributes),
		Repetitions: *o.repetitions, Seed: *o.seed, MaxRequests: *o.maxRequests, JudgeModel: *o.judge}
	if *o.suiteFile != "" {
		b, err := os.ReadFile(*o.suiteFile)
		if err != nil {
			return err
		}
		if req.Definition, err = bias.ParseSuite(b); err != nil {
			return err
		}
	}
	var run chorus.BiasRun
	if err := c.do(ctx, "POST", "/api/admin/bias/runs", req, &run); err != nil {
		return err
	}
	fmt.Fprintf(out, "started bias run %d: %d calls\n", run.ID, run.Planned)
	deadline := time.Now().Add(*o.wait)
	for run.Status == chorus.BiasRunning {
		if time.Now().After(deadline) {
			return fmt.Errorf("bias run %d still running after %s; see chorus bias show %d", run.ID, *o.wait, run.ID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if err := c.do(ctx, "GET", fmt.Sprintf("/api/admin/bias/runs/%d", run.ID), nil, &run); err != nil {
			return err
		}
	}
	return printRun(out, &run, o)
}

func (c *biasClient) show(ctx context.Context, out io.Writer, id string, o biasOptions) error {
	if id == "" {
		return fmt.Errorf("bias show: want a run ID")
	}
	var run chorus.BiasRun
	if err := c.do(ctx, "GET", "/api/admin/bias/runs/"+url.PathEscape(id), nil, &run); err != nil {
		return err
	}
	return printRun(out, &run, o)
}

// printRun prints a run; a run that did not pass is errBiasFailed.
func printRun(out io.Writer, run *chorus.BiasRun, o biasOptions) error {
	if *o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(run); err != nil {
			return err
		}
	} else if err := bias.WriteReport(out, run, *o.all); err != nil {
		return err
	}
	if run.Status != chorus.BiasPass && run.Status != chorus.BiasRunning {
		return fmt.Errorf("%w: run %d is %s", errBiasFailed, run.ID, run.Status)
	}
	return nil
}

func (c *biasClient) list(ctx context.Context, out io.Writer, o biasOptions) error {
	q := url.Values{"model": {*o.model}, "suite": {*o.suite}, "status": {*o.status}, "limit": {"500"}}
	var list struct{ Data []chorus.BiasRun }
	if err := c.do(ctx, "GET", "/api/admin/bias/runs?"+q.Encode(), nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODEL\tSUITE\tVERSION\tSTATUS\tFAIL\tINCONCLUSIVE\tCALLS\tERRORS\tSTARTED")
	for _, r := range list.Data {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Model, r.Suite, r.SuiteHash, r.Status,
			r.Failed, r.Inconclusive, r.Requests, r.Errors, r.StartedAt.Format(time.DateTime))
	}
	return tw.Flush()
}

func (c *biasClient) compare(ctx context.Context, out io.Writer, ids []string) error {
	if len(ids) < 2 {
		return fmt.Errorf("bias compare: want two run IDs or more")
	}
	var cmp bias.Comparison
	if err := c.do(ctx, "GET", "/api/admin/bias/compare?runs="+url.QueryEscape(strings.Join(ids, ",")), nil, &cmp); err != nil {
		return err
	}
	for _, n := range cmp.Notes {
		fmt.Fprintln(out, "note:", n)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "TASK\tATTRIBUTE\tVALUE\tMETRIC")
	for _, r := range cmp.Runs {
		fmt.Fprintf(tw, "\trun %d (%s, %s)", r.ID, r.Model, r.Status)
	}
	fmt.Fprintln(tw)
	for _, row := range cmp.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s", row.Task, row.Attribute, row.Value, row.Metric)
		for _, cell := range row.Cells {
			if cell == nil {
				fmt.Fprint(tw, "\t-")
				continue
			}
			fmt.Fprintf(tw, "\t%+.3f [%+.3f, %+.3f] %s", cell.Gap, cell.Low, cell.High, cell.Verdict)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// do sends one admin API call and decodes the answer into out; an error
// answer becomes an error with the API's message.
func (c *biasClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd) // #nosec G704 -- the Chorus URL the operator gave the bias command
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req) // #nosec G704 -- the Chorus URL the operator gave the bias command
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error.Message)
		}
		return fmt.Errorf("%s %s: status %d", method, path, resp.StatusCode)
	}
	return json.Unmarshal(b, out)
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
