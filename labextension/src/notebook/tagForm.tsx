/** The dialog body of "Add output to airlock": metadata form with statbarn guidance. */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { statbarnGuidance, type Taggable } from '../logic/tagging';
import type { MetadataForm, Statbarn } from '../logic/types';

interface Props {
  initial: MetadataForm;
  statbarns: Statbarn[] | null;
  statbarnError: string | null;
  taggable: Taggable;
  errors: Record<string, string>;
  /** Why the output looks like individual records (rowLevel.ts), or null. */
  rowLevel?: string | null;
  onChange: (form: MetadataForm) => void;
}

function TagForm(props: Props): JSX.Element {
  const [form, setForm] = React.useState<MetadataForm>(props.initial);
  // Errors from the last attempt; a field's error goes away once the field is edited.
  const [errors, setErrors] = React.useState<Record<string, string>>(props.errors);
  const update = (patch: Partial<MetadataForm>) => {
    const next = { ...form, ...patch };
    setForm(next);
    setErrors(prev => {
      const rest = { ...prev };
      for (const key of Object.keys(patch)) {
        delete rest[`/${key}`];
        delete rest[`/metadata/${key}`];
      }
      return rest;
    });
    props.onChange(next);
  };
  const err = (name: string) =>
    errors[`/${name}`] || errors[`/metadata/${name}`] ? (
      <span className="trevor-field-error">{errors[`/${name}`] || errors[`/metadata/${name}`]}</span>
    ) : null;
  const text = (name: keyof MetadataForm, label: string, multiline = false) => (
    <label className="trevor-field">
      <span>{label}</span>
      {multiline ? (
        <textarea value={form[name]} onChange={e => update({ [name]: e.target.value })} />
      ) : (
        <input value={form[name]} onChange={e => update({ [name]: e.target.value })} />
      )}
      {err(name)}
    </label>
  );
  return (
    <div className="trevor-tag-form">
      <p className="trevor-sub">
        Stored in the workspace as a {props.taggable.kind}. Outputs tagged this way have no disclosure evidence computed
        at source, so an output checker judges them; use the
        <code> trevor</code> helpers in the kernel for tables when you can.
      </p>
      {props.rowLevel && (
        <div className="trevor-notice trevor-notice-error trevor-row-level" role="alert">
          <strong>This looks like row-level data</strong> ({props.rowLevel}). Individual records are almost never
          releasable: an output checker will reject them. Tag a summary instead (counts, means, a model), made with the{' '}
          <code>trevor</code> helpers.
        </div>
      )}
      {errors['/output'] && <div className="trevor-field-error">{errors['/output']}</div>}
      {text('title', 'Title')}
      <label className="trevor-field">
        <span>Statbarn (statistical type)</span>
        {props.statbarns ? (
          <select value={form.statbarn} onChange={e => update({ statbarn: e.target.value })}>
            <option value="">— choose —</option>
            {props.statbarns.map(s => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        ) : (
          <input value={form.statbarn} onChange={e => update({ statbarn: e.target.value })} />
        )}
        {props.statbarnError && (
          <span className="trevor-field-error">Statbarn list unavailable: {props.statbarnError}</span>
        )}
        <span className="trevor-guidance">{statbarnGuidance(props.statbarns, form.statbarn)}</span>
        {err('statbarn')}
      </label>
      {text('description', 'Description', true)}
      {text('justification', 'Justification (why it must leave)', true)}
      {text('suppression_notes', 'Suppression notes', true)}
    </div>
  );
}

export class TagFormWidget extends ReactWidget {
  private value: MetadataForm;

  constructor(private readonly props: Omit<Props, 'onChange'>) {
    super();
    this.value = props.initial;
    this.addClass('trevor-tag-dialog');
  }

  getValue(): MetadataForm {
    return this.value;
  }

  render(): JSX.Element {
    return <TagForm {...this.props} onChange={v => (this.value = v)} />;
  }
}
