/** The API client and live state, shared by every page. */
import type { ApiClient, LiveState, LiveView } from '@khutulun/api';
import { createContext, useContext, useSyncExternalStore } from 'react';

export const AppContext = createContext<{ api: ApiClient; live: LiveView } | undefined>(undefined);

/** The API client. */
export function useApi(): ApiClient {
  return useContext(AppContext)!.api;
}

/** The live state object (for actions such as reload). */
export function useLiveStore(): LiveView {
  return useContext(AppContext)!.live;
}

/** The current live state; the component renders again when it changes. */
export function useLive(): LiveState {
  const live = useLiveStore();
  return useSyncExternalStore(live.subscribe, live.snapshot);
}
