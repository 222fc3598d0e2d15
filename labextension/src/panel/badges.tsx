/** The badges for an output's pre-check verdict and a request's status. */
import * as React from 'react';

import { statusBadge } from '../logic/actions';
import type { TaggedOutput } from '../logic/types';
import { verdictBadge } from '../logic/verdict';

export function VerdictBadge({ verdict }: { verdict: TaggedOutput['verdict'] }): JSX.Element {
  const b = verdictBadge(verdict);
  return (
    <span className={`trevor-badge trevor-verdict-${b.tone}`} title={b.title}>
      {b.label}
    </span>
  );
}

export function StatusBadge({ status }: { status: string }): JSX.Element {
  const b = statusBadge(status);
  return <span className={`trevor-badge trevor-status-${b.tone}`}>{b.label}</span>;
}
