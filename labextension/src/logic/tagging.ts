/** The notebook action "Add output to airlock": what can be tagged and form validation. */
import type { MetadataForm, Statbarn } from './types';

/** An nbformat output, loosely typed (only what the action reads). */
export interface CellOutput {
  output_type: string;
  data?: Record<string, unknown>;
  text?: string | string[];
  [key: string]: unknown;
}

export interface Taggable {
  mime: string;
  /** What the server will store it as. */
  kind: 'PNG image' | 'CSV table' | 'text';
}

/** The form the server will store this output in, or null when it cannot be tagged. */
export function taggableForm(output: CellOutput): Taggable | null {
  if (output.output_type === 'stream') {
    return { mime: 'text/plain', kind: 'text' };
  }
  if (output.output_type !== 'display_data' && output.output_type !== 'execute_result') {
    return null;
  }
  const data = output.data ?? {};
  if ('image/png' in data || 'image/jpeg' in data) {
    return { mime: 'image/png' in data ? 'image/png' : 'image/jpeg', kind: 'PNG image' };
  }
  const html = data['text/html'];
  const htmlText = Array.isArray(html) ? html.join('') : typeof html === 'string' ? html : '';
  if (/<table[\s>]/i.test(htmlText)) {
    return { mime: 'text/html', kind: 'CSV table' };
  }
  if ('text/plain' in data) {
    return { mime: 'text/plain', kind: 'text' };
  }
  return null;
}

export const EMPTY_FORM: MetadataForm = {
  title: '',
  description: '',
  statbarn: '',
  justification: '',
  suppression_notes: ''
};

/** Field errors keyed like the backend's JSON pointers ("/title"), empty when valid. */
export function validateMetadata(form: MetadataForm, statbarns: Statbarn[] | null): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!form.title.trim()) {
    errors['/title'] = 'A title is required.';
  } else if (form.title.length > 200) {
    errors['/title'] = 'Keep the title under 200 characters.';
  }
  if (!form.statbarn) {
    errors['/statbarn'] = 'Choose the statistical type of this output.';
  } else if (statbarns && !statbarns.some(s => s.id === form.statbarn)) {
    errors['/statbarn'] = `Unknown statbarn ${form.statbarn}.`;
  }
  if (!form.justification.trim()) {
    errors['/justification'] = 'Say why this output needs to leave the environment.';
  }
  return errors;
}

export function statbarnGuidance(statbarns: Statbarn[] | null, id: string): string {
  const s = statbarns?.find(x => x.id === id);
  if (!s) {
    return '';
  }
  return [s.guidance ?? s.description ?? '', s.always_review ? 'Always reviewed by a person.' : '']
    .filter(Boolean)
    .join(' ');
}

/** Cell metadata after tagging: ids of the outputs tagged from this cell, oldest first. */
export function withTaggedOutput(existing: unknown, outputId: string): { outputs: string[] } {
  const prev =
    existing && typeof existing === 'object' && Array.isArray((existing as any).outputs)
      ? ((existing as any).outputs as unknown[]).filter((x): x is string => typeof x === 'string')
      : [];
  return { outputs: prev.includes(outputId) ? prev : [...prev, outputId] };
}

export function taggedCount(meta: unknown): number {
  return meta && typeof meta === 'object' && Array.isArray((meta as any).outputs) ? (meta as any).outputs.length : 0;
}
