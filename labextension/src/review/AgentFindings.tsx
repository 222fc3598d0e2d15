/** The automatic check of the selected object: status, findings, suppression suggestion, notes. */
import * as React from 'react';

import type { AgentReport, ObjectAgentReport } from '../contract.gen';

export function AgentFindings({
  agent,
  report
}: {
  agent: ObjectAgentReport | undefined;
  report: AgentReport | null;
}): JSX.Element {
  return (
    <section className="trevor-review-block" aria-label="Automatic report for this object">
      <h4>Automatic check</h4>
      {!agent && <p className="trevor-sub">No automatic result for this object.</p>}
      {agent && (
        <>
          <p>
            <span className={`trevor-badge trevor-verdict-${agent.status}`}>{agent.status}</span> {agent.summary}
          </p>
          <ul className="trevor-findings">
            {(agent.findings ?? []).map((f, i) => (
              <li key={i} className={`trevor-finding-${f.status}`}>
                <b>{f.rule}</b> ({f.status}): {f.message}
                {f.value != null || f.limit != null ? (
                  <span className="trevor-sub">
                    {' '}
                    — value {String(f.value ?? '—')}, limit {String(f.limit ?? '—')}
                  </span>
                ) : null}
              </li>
            ))}
          </ul>
          {agent.suppression && (
            <p className="trevor-sub">
              Suggestion: {agent.suppression.method.replace(/_/g, ' ')} of {(agent.suppression.primary ?? []).length}{' '}
              cell(s)
              {(agent.suppression.secondary ?? []).length
                ? ` and ${(agent.suppression.secondary ?? []).length} more to protect them`
                : ''}
              {agent.suppression.rounding_base ? `, or rounding to base ${agent.suppression.rounding_base}` : ''}.
            </p>
          )}
          {(agent.notes ?? []).map((n, i) => (
            <p key={i} className="trevor-sub">
              {n}
            </p>
          ))}
        </>
      )}
      {report?.narrative && (
        <details>
          <summary>Narrative (generated; it does not decide)</summary>
          <p>{report.narrative}</p>
        </details>
      )}
    </section>
  );
}
