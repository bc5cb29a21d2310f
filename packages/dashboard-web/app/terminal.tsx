/**
 * A terminal into a workload: xterm.js over the exec WebSocket (binary frames, the first byte
 * the channel: 0 stdin, 1 stdout, 2 stderr, 3 control JSON).
 */
import { controlFrame, decodeExecFrame, isApiError, stdinFrame } from '@khutulun/api';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal as XTerm } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'react';
import { splitCommand } from './command-line.js';
import { useApi } from './context.js';

export function Terminal({
  service,
  name,
  kind,
}: {
  service: string;
  name: string;
  kind: string | undefined;
}) {
  const api = useApi();
  const [command, setCommand] = useState('/bin/sh');
  const [session, setSession] = useState(0);
  const [status, setStatus] = useState('');
  // Container kinds have a TTY; a bare process has none (the agent refuses tty for it).
  const [tty, setTty] = useState(kind !== undefined && kind !== 'process');
  const host = useRef<HTMLDivElement>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new session starts on Connect only
  useEffect(() => {
    if (session === 0 || !host.current) return;
    const term = new XTerm({ convertEol: true, cursorBlink: true, fontSize: 13, scrollback: 5000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current);
    fit.fit();
    const words = splitCommand(command);
    const path = api.execPath(service, name, {
      command: words,
      tty,
      cols: term.cols,
      rows: term.rows,
    });
    const url = new URL(path, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    let opened = false;
    setStatus(`connecting: ${words.join(' ')}`);
    socket.onopen = () => {
      opened = true;
      setStatus(`connected: ${words.join(' ')}`);
      term.focus();
    };
    socket.onmessage = (message) => {
      const frame = decodeExecFrame(message.data as ArrayBuffer);
      if (!frame) return;
      if (frame.channel === 'stdout' || frame.channel === 'stderr') term.write(frame.data);
      else if (frame.channel === 'control' && frame.message.type === 'exit') {
        term.write(`\r\n[exited with code ${frame.message.code}]\r\n`);
        setStatus(`exited with code ${frame.message.code}`);
      }
    };
    socket.onclose = () => {
      if (opened) return;
      // The agent answers a kind without exec (501) before upgrading: ask it why.
      api
        .request('GET', path)
        .then(() => setStatus('the connection closed'))
        .catch((e: unknown) =>
          setStatus(
            isApiError(e) ? `no terminal: ${e.message} (${e.code})` : 'the connection failed',
          ),
        );
    };
    const send = (frame: Uint8Array) => socket.readyState === WebSocket.OPEN && socket.send(frame);
    // With a TTY the workload echoes and edits; without one this is a line editor: local echo,
    // backspace, Enter sends the line, Ctrl-D closes stdin (an empty stdin frame).
    let line = '';
    const input = term.onData((data) => {
      if (tty) return void send(stdinFrame(data));
      for (const ch of data) {
        if (ch === '\r') {
          term.write('\r\n');
          send(stdinFrame(`${line}\n`));
          line = '';
        } else if (ch === '\x7f') {
          if (line) {
            line = line.slice(0, -1);
            term.write('\b \b');
          }
        } else if (ch === '\x04') {
          if (line) send(stdinFrame(line));
          line = '';
          send(stdinFrame(new Uint8Array()));
        } else if (ch >= ' ') {
          line += ch;
          term.write(ch);
        }
      }
    });
    const resize = term.onResize(({ cols, rows }) => {
      if (socket.readyState === WebSocket.OPEN)
        socket.send(controlFrame({ type: 'resize', cols, rows }));
    });
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(host.current);
    return () => {
      observer.disconnect();
      input.dispose();
      resize.dispose();
      socket.close();
      term.dispose();
    };
  }, [session]);

  return (
    <section className="panel">
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setSession((s) => s + 1);
        }}
      >
        <label htmlFor="exec-command">Command</label>
        <input
          id="exec-command"
          data-testid="exec-command"
          value={command}
          onChange={(e) => setCommand(e.target.value)}
          style={{ flex: 1 }}
        />
        <label title="A terminal (TTY) for kinds that have one: containers">
          <input type="checkbox" checked={tty} onChange={(e) => setTty(e.target.checked)} /> TTY
        </label>
        <button type="submit" data-testid="exec-connect">
          {session ? 'Run again' : 'Connect'}
        </button>
        <span className="muted" data-testid="exec-status">
          {status || `exec into ${kind ?? 'the workload'}`}
        </span>
      </form>
      <div className="terminal" ref={host} data-testid="terminal" />
    </section>
  );
}
