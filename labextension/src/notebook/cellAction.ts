/**
 * Notebook integration: the output context-menu action "Add output to airlock" and the badge on
 * cells whose outputs were tagged (cell metadata `trevor.outputs`).
 *
 * The output is posted to the server extension (POST /trevor/outputs), which converts it
 * (image → PNG, HTML table → CSV, text → .txt) and writes the workspace manifest entry; the
 * browser never writes files itself.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import type { CodeCell } from '@jupyterlab/cells';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { Signal } from '@lumino/signaling';

import { api } from '../api';
import {
  EMPTY_FORM,
  taggableForm,
  taggedCount,
  validateMetadata,
  withTaggedOutput,
  type CellOutput
} from '../logic/tagging';
import type { MetadataForm, Statbarn } from '../logic/types';
import { describeError, TrevorAPIError } from '../problem';
import { rowLevelReason } from './rowLevel';
import { TagFormWidget } from './tagForm';

export const COMMAND = 'trevor:add-output-to-airlock';
const OUTPUT_SELECTOR = '.jp-OutputArea-child';

/** The code cell and output index under the node the context menu was opened on. */
function hitOutput(
  app: JupyterFrontEnd,
  tracker: INotebookTracker
): { panel: NotebookPanel; cell: CodeCell; index: number } | null {
  const node = app.contextMenuHitTest(n => n.classList.contains('jp-OutputArea-child'));
  const panel = tracker.currentWidget;
  if (!node || !panel) {
    return null;
  }
  for (const cell of panel.content.widgets) {
    if (cell.model.type !== 'code' || !cell.node.contains(node)) {
      continue;
    }
    const code = cell as CodeCell;
    const index = code.outputArea.widgets.findIndex(w => w.node === node || w.node.contains(node));
    return index >= 0 ? { panel, cell: code, index } : null;
  }
  return null;
}

export function updateBadges(panel: NotebookPanel): void {
  for (const cell of panel.content.widgets) {
    const n = taggedCount(cell.model.getMetadata('trevor'));
    cell.node.classList.toggle('trevor-tagged', n > 0);
    if (n > 0) {
      cell.node.dataset.trevorTagged = n === 1 ? 'airlock: 1 output' : `airlock: ${n} outputs`;
    } else {
      delete cell.node.dataset.trevorTagged;
    }
  }
}

async function askMetadata(
  initial: MetadataForm,
  statbarns: Statbarn[] | null,
  statbarnError: string | null,
  taggable: NonNullable<ReturnType<typeof taggableForm>>,
  errors: Record<string, string>,
  rowLevel: string | null = null
): Promise<MetadataForm | null> {
  const body = new TagFormWidget({ initial, statbarns, statbarnError, taggable, errors, rowLevel });
  const result = await showDialog({
    title: 'Add output to airlock',
    body,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Add to airlock' })],
    focusNodeSelector: 'input'
  });
  return result.button.accept ? body.getValue() : null;
}

export function registerCellAction(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  outputsChanged: Signal<unknown, void>
): void {
  app.commands.addCommand(COMMAND, {
    label: 'Add output to airlock',
    caption: 'Tag this output for an airlock request (title, statbarn, justification)',
    // No arguments: it acts on the output under the context menu.
    describedBy: { args: { type: 'object', properties: {} } },
    isVisible: () => hitOutput(app, tracker) !== null,
    execute: async () => {
      const hit = hitOutput(app, tracker);
      if (!hit) {
        return;
      }
      const { panel, cell, index } = hit;
      const output = cell.model.outputs.get(index).toJSON() as unknown as CellOutput;
      const taggable = taggableForm(output);
      if (!taggable) {
        await showErrorMessage(
          'Cannot add this output',
          'Only images, HTML tables and text outputs can be added. Use trevor.tag(...) in the ' +
            'kernel for other objects.'
        );
        return;
      }
      let statbarns: Statbarn[] | null = null;
      let statbarnError: string | null = null;
      try {
        statbarns = await api.statbarns();
      } catch (e) {
        statbarnError = describeError(e);
      }
      const html = (output as { data?: Record<string, unknown> }).data?.['text/html'];
      const rowLevel = rowLevelReason(
        cell.model.sharedModel.getSource(),
        typeof html === 'string' ? html : Array.isArray(html) ? html.join('') : null
      );
      let form: MetadataForm = { ...EMPTY_FORM };
      let errors: Record<string, string> = {};
      for (;;) {
        const value = await askMetadata(form, statbarns, statbarnError, taggable, errors, rowLevel);
        if (!value) {
          return;
        }
        form = value;
        errors = validateMetadata(form, statbarns);
        if (Object.keys(errors).length) {
          continue;
        }
        try {
          const record = await api.tagOutput({
            output,
            mime: taggable.mime,
            metadata: form,
            provenance: {
              notebook_path: panel.context.path,
              cell_id: cell.model.id,
              execution_count: cell.model.executionCount,
              code: cell.model.sharedModel.getSource(),
              kernel: panel.sessionContext.kernelDisplayName
            }
          });
          cell.model.setMetadata('trevor', withTaggedOutput(cell.model.getMetadata('trevor'), record.id));
          updateBadges(panel);
          outputsChanged.emit();
          return;
        } catch (e) {
          if (e instanceof TrevorAPIError && e.status === 400 && e.problem.errors?.length) {
            errors = e.fieldErrors();
            continue; // show the server's field errors in the form
          }
          await showErrorMessage('Could not add the output to the airlock', describeError(e));
          return;
        }
      }
    }
  });

  app.contextMenu.addItem({ command: COMMAND, selector: OUTPUT_SELECTOR, rank: 20 });

  tracker.widgetAdded.connect((_, panel) => {
    const refresh = () => updateBadges(panel);
    void panel.context.ready.then(refresh);
    panel.content.modelContentChanged.connect(refresh);
    panel.content.activeCellChanged.connect(refresh);
  });
}
