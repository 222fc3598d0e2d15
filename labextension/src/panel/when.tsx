/** Times as people read them: "2 hours ago", the full local time on hover. */
import * as React from 'react';

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60]
];

export function relativeTime(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) {
    return iso;
  }
  const seconds = Math.round((t - now) / 1000);
  const fmt = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) {
      return fmt.format(Math.round(seconds / size), unit);
    }
  }
  return Math.abs(seconds) < 45 ? (seconds <= 0 ? 'just now' : 'in a moment') : fmt.format(seconds, 'second');
}

export function When({ iso, prefix }: { iso: string | null | undefined; prefix?: string }): JSX.Element | null {
  if (!iso) {
    return null;
  }
  const full = new Date(iso);
  return (
    <time className="trevor-when" dateTime={iso} title={Number.isNaN(full.getTime()) ? iso : full.toLocaleString()}>
      {prefix ? `${prefix} ` : ''}
      {relativeTime(iso)}
    </time>
  );
}
