package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

func TestUsageReportSpans(t *testing.T) {
	d := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tc := range []struct {
		name         string
		interval     string
		since, until string
		want         string
	}{
		{"NinetyDaysToAMonth", "", "2026-09-02T00:00:00Z", "2026-12-01T00:00:00Z",
			"usage_daily[2026-09-02,2026-10-01) usage_monthly[2026-10-01,2026-12-01)"},
		{"HoursDaysMonths", "", "2026-09-02T05:00:00Z", "2026-12-03T07:00:00Z",
			"usage_hourly[2026-09-02T05,2026-09-03) usage_daily[2026-09-03,2026-10-01) usage_monthly[2026-10-01,2026-12-01) " +
				"usage_daily[2026-12-01,2026-12-03) usage_hourly[2026-12-03,2026-12-03T07)"},
		{"WithinAMonth", "", "2026-09-02T05:00:00Z", "2026-09-20T00:00:00Z",
			"usage_hourly[2026-09-02T05,2026-09-03) usage_daily[2026-09-03,2026-09-20)"},
		{"NoWholeDay", "", "2026-09-02T05:00:00Z", "2026-09-03T04:00:00Z", "usage_hourly[2026-09-02T05,2026-09-03T04)"},
		{"OneWholeMonth", "", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "usage_monthly[2026-02-01,2026-03-01)"},
		{"Unbounded", "", "", "", "usage_monthly[-,-)"},
		{"UntilOnly", "", "", "2026-03-04T05:00:00Z",
			"usage_monthly[-,2026-03-01) usage_daily[2026-03-01,2026-03-04) usage_hourly[2026-03-04,2026-03-04T05)"},
		{"SinceOnly", "", "2026-03-04T05:00:00Z", "",
			"usage_hourly[2026-03-04T05,2026-03-05) usage_daily[2026-03-05,2026-04-01) usage_monthly[2026-04-01,-)"},
		{"DailySeries", chorus.IntervalDay, "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "usage_daily[2026-01-01,2026-06-01)"},
		{"HourlySeries", chorus.IntervalHour, "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "usage_hourly[2026-01-01,2026-06-01)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := chorus.UsageQuery{Interval: tc.interval, Since: d(tc.since), Until: d(tc.until)}
			f := func(t time.Time) string {
				switch {
				case t.IsZero():
					return "-"
				case t.Hour() != 0:
					return t.Format("2006-01-02T15")
				default:
					return t.Format("2006-01-02")
				}
			}
			got := ""
			for i, sp := range rollupSpans(&q, false) {
				if i > 0 {
					got += " "
				}
				got += fmt.Sprintf("%s[%s,%s)", sp.table, f(sp.since), f(sp.until))
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
