/**
 * The statbarn guidance is written in a little markdown (`code`, **bold**, *emphasis*); this
 * renders just that as React elements. No HTML is parsed, so guidance text can never inject
 * markup into the panel.
 */
import * as React from 'react';

const TOKEN = /(`[^`]+`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*)/g;

export function inlineMarkdown(text: string): React.ReactNode[] {
  return text.split(TOKEN).map((part, i) => {
    if (part.startsWith('`') && part.endsWith('`') && part.length > 2) {
      return <code key={i}>{part.slice(1, -1)}</code>;
    }
    if (part.startsWith('**') && part.endsWith('**') && part.length > 4) {
      return <strong key={i}>{part.slice(2, -2)}</strong>;
    }
    if (part.startsWith('*') && part.endsWith('*') && part.length > 2) {
      return <em key={i}>{part.slice(1, -1)}</em>;
    }
    return part;
  });
}

export function Guidance({ text }: { text: string }): JSX.Element | null {
  if (!text) {
    return null;
  }
  return (
    <span className="trevor-guidance">
      {text.split(/\n{2,}/).map((para, i) => (
        <span key={i} className="trevor-guidance-para">
          {inlineMarkdown(para)}
        </span>
      ))}
    </span>
  );
}
