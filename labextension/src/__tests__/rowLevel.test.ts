import { hasRangeIndex, rowLevelReason } from '../notebook/rowLevel';

const table = (labels: string[]) =>
  '<table><thead><tr><th></th><th>n</th></tr></thead><tbody>' +
  labels.map(l => `<tr><th>${l}</th><td>1</td></tr>`).join('') +
  '</tbody></table>';

describe('row-level data warning', () => {
  it('flags cells that show rows of a data frame', () => {
    expect(rowLevelReason('df = load()\ndf.head()', null)).toMatch(/rows of the data/);
    expect(rowLevelReason('df.sample(5)  # a look', null)).toMatch(/df.sample/);
    expect(rowLevelReason('df.iloc[:10]', null)).not.toBeNull();
  });
  it('flags a table indexed 0..n-1 (a raw frame) but not one indexed by categories', () => {
    expect(hasRangeIndex(table(['0', '1', '2']))).toBe(true);
    expect(rowLevelReason('df[cols]', table(['0', '1', '2']))).toMatch(/raw records/);
    expect(hasRangeIndex(table(['north', 'south']))).toBe(false);
    expect(rowLevelReason('trevor.crosstab(df.region, df.age)', table(['north', 'south']))).toBeNull();
  });
  it('does not flag an earlier head() when the cell ends in an aggregate', () => {
    expect(rowLevelReason('df.head()\ndf.groupby("region").size()', null)).toBeNull();
  });
});
