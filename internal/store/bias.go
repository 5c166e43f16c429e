package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/chorusgw/chorus"
)

// biasRunColumns are a bias run's columns in scanBiasRun's order.
const biasRunColumns = `id, model, suite, suite_hash, status, seed, repetitions, judge_model, planned, requests, errors,
	input_tokens, output_tokens, failed, inconclusive, error, created_by, started_at, deadline, finished_at`

// CreateBiasRun records a run as it starts (status running); it sets r.ID.
func (db *DB) CreateBiasRun(ctx context.Context, r *chorus.BiasRun) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	err = tx.queryRow(ctx, `INSERT INTO bias_runs (model, suite, suite_hash, status, seed, repetitions, judge_model, planned,
		created_by, started_at, deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.Model, r.Suite, r.SuiteHash, r.Status, r.Seed, r.Repetitions, r.JudgeModel, r.Planned,
		r.CreatedBy, r.StartedAt, r.Deadline).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("create bias run: %w", err)
	}
	return commit(tx)
}

// FinishBiasRun records a run's outcome — its status, counts and results —
// in one transaction.
func (db *DB) FinishBiasRun(ctx context.Context, r *chorus.BiasRun) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `UPDATE bias_runs SET status = ?, requests = ?, errors = ?, input_tokens = ?, output_tokens = ?,
		failed = ?, inconclusive = ?, error = ?, finished_at = ? WHERE id = ?`,
		r.Status, r.Requests, r.Errors, r.InputTokens, r.OutputTokens, r.Failed, r.Inconclusive, r.Error, r.FinishedAt, r.ID)
	if err != nil {
		return fmt.Errorf("finish bias run: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return chorus.Errorf(chorus.ENOTFOUND, "There is no bias run %d.", r.ID)
	}
	if _, err := tx.exec(ctx, `DELETE FROM bias_results WHERE run_id = ?`, r.ID); err != nil {
		return fmt.Errorf("finish bias run: %w", err)
	}
	for i, x := range r.Results {
		_, err := tx.exec(ctx, `INSERT INTO bias_results (run_id, seq, task, attribute, value, reference, metric, n, ref_n,
			mean, ref_mean, gap, low, high, threshold, verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, i, x.Task, x.Attribute, x.Value, x.Reference, x.Metric, x.N, x.RefN,
			x.Mean, x.RefMean, x.Gap, x.Low, x.High, x.Threshold, x.Verdict)
		if err != nil {
			return fmt.Errorf("store bias result: %w", err)
		}
	}
	return commit(tx)
}

// BiasRunByID returns a run with its results, or ENOTFOUND.
func (db *DB) BiasRunByID(ctx context.Context, id int64) (*chorus.BiasRun, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	r, err := scanBiasRun(tx.queryRow(ctx, `SELECT `+biasRunColumns+` FROM bias_runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, chorus.Errorf(chorus.ENOTFOUND, "There is no bias run %d.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("bias run: %w", err)
	}
	if err := biasResults(ctx, tx, []*chorus.BiasRun{r}); err != nil {
		return nil, err
	}
	return r, nil
}

// ListBiasRuns returns one page of runs in ID order (oldest first), with
// their results when f.WithResults.
func (db *DB) ListBiasRuns(ctx context.Context, f chorus.BiasRunFilter, page chorus.Page) ([]*chorus.BiasRun, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := []string{"id > ?"}, []any{page.After}
	for col, v := range map[string]string{"model": f.Model, "suite": f.Suite, "status": f.Status} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	args = append(args, limit(page))
	rows, err := tx.query(ctx, `SELECT `+biasRunColumns+` FROM bias_runs WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list bias runs: %w", err)
	}
	defer rows.Close()
	var out []*chorus.BiasRun
	for rows.Next() {
		r, err := scanBiasRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list bias runs: %w", err)
		}
		r.Results = []chorus.BiasResult{}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list bias runs: %w", err)
	}
	rows.Close()
	if f.WithResults && len(out) > 0 {
		if err := biasResults(ctx, tx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// biasResults loads the results of runs, in their order.
func biasResults(ctx context.Context, tx *tx, runs []*chorus.BiasRun) error {
	byID := make(map[int64]*chorus.BiasRun, len(runs))
	marks := make([]string, len(runs))
	args := make([]any, len(runs))
	for i, r := range runs {
		byID[r.ID], marks[i], args[i] = r, "?", r.ID
		r.Results = []chorus.BiasResult{}
	}
	rows, err := tx.query(ctx, `SELECT run_id, task, attribute, value, reference, metric, n, ref_n, mean, ref_mean, gap,
		low, high, threshold, verdict FROM bias_results WHERE run_id IN (`+strings.Join(marks, ", ")+`) ORDER BY run_id, seq`, args...)
	if err != nil {
		return fmt.Errorf("bias results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var x chorus.BiasResult
		if err := rows.Scan(&id, &x.Task, &x.Attribute, &x.Value, &x.Reference, &x.Metric, &x.N, &x.RefN, &x.Mean,
			&x.RefMean, &x.Gap, &x.Low, &x.High, &x.Threshold, &x.Verdict); err != nil {
			return fmt.Errorf("bias results: %w", err)
		}
		byID[id].Results = append(byID[id].Results, x)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("bias results: %w", err)
	}
	return nil
}

func scanBiasRun(row interface{ Scan(...any) error }) (*chorus.BiasRun, error) {
	var r chorus.BiasRun
	err := row.Scan(&r.ID, &r.Model, &r.Suite, &r.SuiteHash, &r.Status, &r.Seed, &r.Repetitions, &r.JudgeModel, &r.Planned,
		&r.Requests, &r.Errors, &r.InputTokens, &r.OutputTokens, &r.Failed, &r.Inconclusive, &r.Error, &r.CreatedBy,
		scanTime(&r.StartedAt), scanTime(&r.Deadline), scanNullTime(&r.FinishedAt))
	if err != nil {
		return nil, err
	}
	return &r, nil
}
