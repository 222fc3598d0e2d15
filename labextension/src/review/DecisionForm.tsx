/** The checker's review form: a decision and comment per object, the overall decision, a summary. */
import * as React from 'react';

import type { Decision, ObjectOut } from '../contract.gen';
import { objectDraft, suggestedOverall, updateObject, type Draft } from './draft';

export const DECISION_LABEL: Record<Decision, string> = {
  approve: 'Approve',
  changes_requested: 'Request changes',
  reject: 'Reject'
};
const DECISION_KEY: Record<Decision, string> = { approve: 'a', changes_requested: 'c', reject: 'r' };

export function DecisionForm(props: {
  draft: Draft;
  objects: ObjectOut[];
  current: ObjectOut | undefined;
  busy: boolean;
  problem: { text: string; fields: Record<string, string> } | null;
  onDecide: (oid: string, d: Decision) => void;
  onChange: (d: Draft) => void;
  onSubmit: () => void;
}): JSX.Element {
  const { draft, current, objects } = props;
  const o = current ? objectDraft(draft, current.id) : null;
  const index = current ? objects.findIndex(x => x.id === current.id) : -1;
  const fieldError = (name: string) => props.problem?.fields[`/objects/${index}/${name}`];
  const suggested = suggestedOverall(
    draft,
    objects.map(x => x.id)
  );
  const decided = objects.filter(x => objectDraft(draft, x.id).decision !== null).length;
  return (
    <form
      className="trevor-review-block trevor-decision"
      aria-label="Your review"
      onSubmit={e => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      <h4>Your decision</h4>
      {current && o && (
        <fieldset>
          <legend>{current.metadata.title || current.filename}</legend>
          <div role="radiogroup" aria-label="Decision for this object" className="trevor-decision-buttons">
            {(Object.keys(DECISION_LABEL) as Decision[]).map(d => (
              <button
                key={d}
                type="button"
                role="radio"
                aria-checked={o.decision === d}
                className={`jp-mod-styled trevor-decide-${d}${o.decision === d ? ' trevor-chosen' : ''}`}
                onClick={() => props.onDecide(current.id, d)}
                aria-keyshortcuts={DECISION_KEY[d]}
              >
                {DECISION_LABEL[d]} <kbd>{DECISION_KEY[d]}</kbd>
              </button>
            ))}
          </div>
          {fieldError('decision') && <span className="trevor-field-error">{fieldError('decision')}</span>}
          <Field label="Comment">
            {id => (
              <textarea
                id={id}
                value={o.comment}
                onChange={e => props.onChange(updateObject(draft, current.id, { comment: e.target.value }))}
              />
            )}
          </Field>
          {fieldError('comment') && <span className="trevor-field-error">{fieldError('comment')}</span>}
          <Field label="Who sees the comment">
            {id => (
              <select
                id={id}
                value={o.visibility}
                onChange={e =>
                  props.onChange(
                    updateObject(draft, current.id, { visibility: e.target.value as 'public' | 'private' })
                  )
                }
              >
                <option value="public">Public: the researcher sees it</option>
                <option value="private">Private: checkers only</option>
              </select>
            )}
          </Field>
        </fieldset>
      )}
      <p className="trevor-sub">
        {decided} of {objects.length} object(s) decided.
      </p>
      <Field label="Overall decision">
        {id => (
          <select
            id={id}
            value={draft.overall ?? ''}
            onChange={e => props.onChange({ ...draft, overall: (e.target.value || null) as Decision | null })}
          >
            <option value="">
              {suggested ? `From the objects: ${DECISION_LABEL[suggested]}` : 'From the objects (decide each first)'}
            </option>
            {(Object.keys(DECISION_LABEL) as Decision[]).map(d => (
              <option key={d} value={d}>
                {DECISION_LABEL[d]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Summary (the researcher sees it once the round closes)">
        {id => (
          <textarea
            id={id}
            value={draft.summary}
            onChange={e => props.onChange({ ...draft, summary: e.target.value })}
          />
        )}
      </Field>
      {props.problem && (
        <div className="trevor-notice trevor-notice-error trevor-submit-error" role="alert">
          {props.problem.text}
        </div>
      )}
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept"
        disabled={props.busy}
        aria-keyshortcuts="Control+Enter"
      >
        Submit review
      </button>
    </form>
  );
}

/** A labelled control whose accessible name is the label alone (a label wrapping a textarea
 * would add the text typed so far to the name). */
function Field(props: { label: string; children: (id: string) => JSX.Element }): JSX.Element {
  const id = React.useId();
  return (
    <div className="trevor-field">
      <label htmlFor={id}>{props.label}</label>
      {props.children(id)}
    </div>
  );
}
