import {
  EMPTY_FORM,
  statbarnGuidance,
  taggableForm,
  taggedCount,
  validateMetadata,
  withTaggedOutput
} from '../logic/tagging';

const statbarns = [
  { id: 'frequency', name: 'Frequency table', guidance: 'Counts need 10 per cell.' },
  { id: 'other', name: 'Other', description: 'Anything else', always_review: true }
];

describe('taggableForm', () => {
  it('prefers images, then HTML tables, then text', () => {
    expect(
      taggableForm({
        output_type: 'display_data',
        data: { 'image/png': 'AAA', 'text/plain': 'x' }
      })
    ).toEqual({ mime: 'image/png', kind: 'PNG image' });
    expect(
      taggableForm({
        output_type: 'execute_result',
        data: { 'text/html': ['<div>', '<table border="1">'], 'text/plain': 'df' }
      })
    ).toEqual({ mime: 'text/html', kind: 'CSV table' });
    expect(
      taggableForm({
        output_type: 'execute_result',
        data: { 'text/html': '<b>no table</b>', 'text/plain': 'x' }
      })
    ).toEqual({ mime: 'text/plain', kind: 'text' });
    expect(taggableForm({ output_type: 'stream', text: 'hi' })?.kind).toBe('text');
  });

  it('refuses errors and outputs without a usable form', () => {
    expect(taggableForm({ output_type: 'error' })).toBeNull();
    expect(taggableForm({ output_type: 'display_data', data: { 'application/json': {} } })).toBeNull();
  });
});

describe('validateMetadata', () => {
  it('requires title, a known statbarn and a justification', () => {
    expect(validateMetadata(EMPTY_FORM, statbarns)).toEqual({
      '/title': 'A title is required.',
      '/statbarn': 'Choose the statistical type of this output.',
      '/justification': 'Say why this output needs to leave the environment.'
    });
    const ok = { ...EMPTY_FORM, title: 'T', statbarn: 'frequency', justification: 'paper' };
    expect(validateMetadata(ok, statbarns)).toEqual({});
    expect(validateMetadata({ ...ok, statbarn: 'nope' }, statbarns)['/statbarn']).toMatch(/Unknown/);
    // Catalogue not loaded (backend down): do not block on statbarn ids.
    expect(validateMetadata({ ...ok, statbarn: 'nope' }, null)).toEqual({});
  });
});

describe('statbarn guidance and cell metadata', () => {
  it('shows guidance or description', () => {
    expect(statbarnGuidance(statbarns, 'frequency')).toBe('Counts need 10 per cell.');
    expect(statbarnGuidance(statbarns, 'other')).toBe('Anything else Always reviewed by a person.');
    expect(statbarnGuidance(statbarns, 'x')).toBe('');
  });

  it('records tagged output ids once, keeping earlier ones', () => {
    const a = withTaggedOutput(undefined, 'o1');
    const b = withTaggedOutput(a, 'o2');
    expect(b).toEqual({ outputs: ['o1', 'o2'] });
    expect(withTaggedOutput(b, 'o1')).toEqual(b);
    expect(withTaggedOutput({ outputs: [3, 'x'] }, 'y')).toEqual({ outputs: ['x', 'y'] });
    expect(taggedCount(b)).toBe(2);
    expect(taggedCount(null)).toBe(0);
  });
});
