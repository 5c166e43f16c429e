import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Series } from './aggregate';

const COLORS = ['#6366f1', '#0ea5e9', '#10b981', '#f59e0b', '#ef4444', '#a855f7', '#64748b'];

/** UsageChart is a stacked bar chart of one metric per day, by group. */
export function UsageChart({ series, format, label }: { series: Series; format: (v: number) => string; label: string }) {
  return (
    <figure aria-label={label} className="h-72 w-full text-xs">
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={series.rows} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="currentColor" strokeOpacity={0.15} vertical={false} />
          <XAxis dataKey="day" tickFormatter={(d: string) => d.slice(5)} stroke="currentColor" tick={{ fill: 'currentColor' }} fontSize={11} />
          <YAxis tickFormatter={(v: number) => format(v)} stroke="currentColor" tick={{ fill: 'currentColor' }} fontSize={11} width={56} />
          <Tooltip formatter={(v) => format(Number(v))} contentStyle={{ background: 'var(--color-gray-900, #111827)', color: '#f9fafb', border: 'none', borderRadius: 6 }} />
          <Legend />
          {series.groups.map((g, i) => (
            <Bar key={g} dataKey={g} stackId="a" fill={COLORS[i % COLORS.length]} isAnimationActive={false} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </figure>
  );
}
