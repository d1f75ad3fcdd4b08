// useWebSocket: a React hook over client.js, for dashboards written in React.
//
// React is a peer: this file does not bundle or import it. Either the page has React as a
// global (the UMD build: <script src=".../react.production.min.js">), or it binds its own:
//
//   import React from 'react';
//   import { createUseWebSocket } from 'http://gozcu.local:8080/react.js';
//   const useWebSocket = createUseWebSocket(React);
//
//   function Events() {
//     const [events, setEvents] = React.useState([]);
//     const { isConnected, error } = useWebSocket('ws://gozcu.local:8080/api/ws/events', {
//       onEvent: (ev) => setEvents((list) => [ev, ...list]),
//     });
//     ...
//   }
//
// Returns { isConnected, error, send, reconnect, close } (error: an Error or null). The
// callbacks may change on every render without reconnecting; a new `url` reconnects.
// Options are those of client.js `connect`.

import { connect } from './client.js';

/** Options whose change needs a new connection (the rest are read when used). */
const CONNECTION_OPTIONS = [
  'reconnectInterval', 'maxReconnectInterval', 'maxReconnectAttempts', 'pingInterval',
  'deadTimeout', 'connectTimeout',
];
const CALLBACKS = ['onEvent', 'onStatus', 'onConnect', 'onDisconnect', 'onReset', 'onError', 'onStateChange'];

/** Builds the hook for a given React (anything with useState, useEffect, useRef, useCallback). */
export function createUseWebSocket(React) {
  if (!React || typeof React.useEffect !== 'function') {
    throw new Error('gozcu react.js: pass the React module (it needs useState, useEffect, useRef, useCallback)');
  }
  const { useState, useEffect, useRef, useCallback } = React;

  return function useWebSocket(url, options = {}) {
    const [isConnected, setConnected] = useState(false);
    const [error, setError] = useState(null);
    const clientRef = useRef(null);
    // The latest callbacks, so a re-render with new closures does not reconnect.
    const optionsRef = useRef(options);
    optionsRef.current = options;
    const key = CONNECTION_OPTIONS.map((k) => String(options[k])).join('|');

    useEffect(() => {
      if (!url) return undefined;
      const forward = Object.fromEntries(CALLBACKS.map((name) => [name, (...args) => {
        const fn = optionsRef.current[name];
        if (typeof fn === 'function') fn(...args);
      }]));
      const settings = Object.fromEntries(CONNECTION_OPTIONS
        .filter((k) => options[k] !== undefined).map((k) => [k, options[k]]));
      const client = connect(url, {
        ...settings,
        since: options.since,
        WebSocket: options.WebSocket,
        ...forward,
        onConnect: (info) => {
          setConnected(true);
          setError(null);
          forward.onConnect(info);
        },
        onDisconnect: (info) => {
          setConnected(false);
          setError(info.error ?? null);
          forward.onDisconnect(info);
        },
        onError: (e) => {
          setError(e);
          forward.onError(e);
        },
      });
      clientRef.current = client;
      return () => {
        client.close();
        if (clientRef.current === client) clientRef.current = null;
        setConnected(false);
      };
      // `options` is read through optionsRef; only the URL and connection settings reconnect.
      // eslint-disable-next-line react-hooks/exhaustive-deps
    }, [url, key]);

    const send = useCallback((message) => clientRef.current?.send(message) ?? false, []);
    const reconnect = useCallback(() => clientRef.current?.reconnect(), []);
    const close = useCallback(() => {
      clientRef.current?.close();
      setConnected(false);
    }, []);

    return { isConnected, error, send, reconnect, close };
  };
}

/**
 * The hook for pages that load React as a global (UMD). Looks React up when first called,
 * so this module can be imported before React's script has run.
 */
let globalHook = null;
export function useWebSocket(url, options) {
  if (!globalHook) {
    if (!globalThis.React) {
      throw new Error('gozcu react.js: no global React; load React first or use createUseWebSocket(React)');
    }
    globalHook = createUseWebSocket(globalThis.React);
  }
  return globalHook(url, options);
}

export default useWebSocket;
