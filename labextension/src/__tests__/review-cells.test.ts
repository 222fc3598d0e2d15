import type { ObjectAgentReport } from '../contract.gen';
import { cellKey, highlightCells, labelDepth, parseDelimited, separatorFor, splitTable } from '../review/cells';

describe('delimited text', () => {
  it('parses quoted fields with separators, quotes and newlines', () => {
    const text = 'region,"a, b","say ""hi"""\r\nNorth,1,"two\nlines"\nSouth,3,4\n';
    expect(parseDelimited(text)).toEqual([
      ['region', 'a, b', 'say "hi"'],
      ['North', '1', 'two\nlines'],
      ['South', '3', '4']
    ]);
  });

  it('reads tabs for TSV and knows which files are tables', () => {
    expect(parseDelimited('a\tb\n1\t2', '\t')).toEqual([
      ['a', 'b'],
      ['1', '2']
    ]);
    expect(separatorFor('T.CSV')).toBe(',');
    expect(separatorFor('x.tsv')).toBe('\t');
    expect(separatorFor('fig.png')).toBeNull();
  });
});

const report: ObjectAgentReport = {
  status: 'fail',
  findings: [
    {
      rule: 'threshold',
      status: 'fail',
      message: '1 cell below 10',
      cells: [[['south'], ['f']]],
      positions: [[1, 0]]
    },
    {
      rule: 'p_ratio',
      status: 'review',
      message: 'dominance',
      cells: [
        [['south'], ['f']],
        [['north'], ['m']]
      ],
      positions: [
        [1, 0],
        [0, 1]
      ]
    },
    { rule: 'zeros', status: 'pass', message: 'none', positions: [[0, 0]] }
  ]
};

describe('highlighted cells', () => {
  it('maps finding positions to body cells, fail over review, passes ignored', () => {
    const marks = highlightCells(report);
    expect([...marks.keys()].sort()).toEqual(['0,1', '1,0']);
    expect(marks.get(cellKey(1, 0))).toEqual({
      tone: 'fail',
      rules: ['threshold: 1 cell below 10', 'p_ratio: dominance']
    });
    expect(marks.get(cellKey(0, 1))?.tone).toBe('review');
    expect(highlightCells(null).size).toBe(0);
  });

  it('lines positions up with the body of the file as pandas writes it', () => {
    const grid = parseDelimited('region,f,m\nnorth,15,15\nsouth,3,20\n');
    const { headerRows, indexCols } = labelDepth(report.findings!);
    expect({ headerRows, indexCols }).toEqual({ headerRows: 1, indexCols: 1 });
    const table = splitTable(grid, headerRows, indexCols);
    const marks = highlightCells(report);
    const failing = table.rows.flatMap((r, i) =>
      r.cells.filter((_, j) => marks.get(cellKey(i, j))?.tone === 'fail').map(v => `${r.labels[0]}=${v}`)
    );
    expect(failing).toEqual(['south=3']);
  });

  it('reads multi-level labels from the findings', () => {
    const deep = [
      {
        rule: 'threshold',
        status: 'fail' as const,
        message: '',
        cells: [
          [
            ['a', 'x'],
            ['f', 'g', 'h']
          ]
        ]
      }
    ];
    expect(labelDepth(deep)).toEqual({ indexCols: 2, headerRows: 3 });
    expect(labelDepth([])).toEqual({ indexCols: 1, headerRows: 1 });
  });
});
