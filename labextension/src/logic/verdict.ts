/** Pre-check verdict badges (pass / fail / review) and finding summaries. */
import type { Finding, Verdict } from './types';

export type Tone = 'pass' | 'fail' | 'review' | 'unknown';

export interface Badge {
  label: string;
  tone: Tone;
  title: string;
}

export function verdictStatus(v: Verdict): Tone {
  const raw = typeof v === 'string' ? v : v && typeof v === 'object' ? v.status : undefined;
  return raw === 'pass' || raw === 'fail' || raw === 'review' ? raw : 'unknown';
}

export function verdictFindings(v: Verdict): Finding[] {
  return v && typeof v === 'object' && Array.isArray(v.findings) ? v.findings : [];
}

export function describeFinding(f: Finding): string {
  const text = f.detail ?? f.message;
  if (typeof text === 'string' && text) {
    return `${f.rule}: ${text}`;
  }
  const parts = [f.rule];
  if (f.cells !== undefined) {
    parts.push(`cells ${JSON.stringify(f.cells)}`);
  }
  if (f.value !== undefined && f.limit !== undefined) {
    parts.push(`${String(f.value)} (limit ${String(f.limit)})`);
  }
  return parts.join(': ');
}

export function verdictBadge(v: Verdict): Badge {
  const tone = verdictStatus(v);
  const findings = verdictFindings(v);
  const label = { pass: 'Pass', fail: 'Fail', review: 'Review', unknown: 'Not checked' }[tone];
  const base = {
    pass: 'The disclosure pre-check found no problem.',
    fail: 'The disclosure pre-check found a problem: fix it before submitting.',
    review: 'An output checker must judge this output.',
    unknown: 'No disclosure pre-check result.'
  }[tone];
  const title = findings.length ? `${base}\n${findings.map(describeFinding).join('\n')}` : base;
  return { label, tone, title };
}
