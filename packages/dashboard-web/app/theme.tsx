/** Light and dark themes: the system's preference until the user picks one (remembered). */
import { useEffect, useState } from 'react';

type ThemeName = 'light' | 'dark';

function initialTheme(): ThemeName {
  const saved = localStorage.getItem('khutulun.theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** The theme toggle; sets `data-theme` on the document element. */
export function Theme() {
  const [theme, setTheme] = useState<ThemeName>(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  const next = theme === 'dark' ? 'light' : 'dark';
  return (
    <button
      type="button"
      aria-label={`Switch to ${next} mode`}
      data-testid="theme"
      onClick={() => {
        localStorage.setItem('khutulun.theme', next);
        setTheme(next);
      }}
    >
      {theme === 'dark' ? '☀ Light' : '☾ Dark'}
    </button>
  );
}
