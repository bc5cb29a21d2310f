/** The parts of libpod's JSON the driver reads (Podman 4). */

/** `GET /containers/{id}/json`. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  ImageName: string;
  Pod: string;
  IsInfra: boolean;
  State: {
    Status: string;
    Running: boolean;
    Pid: number;
    ExitCode: number;
    StartedAt: string;
    FinishedAt: string;
  };
  Config: { Labels: Record<string, string> | null };
  HostConfig: { LogConfig?: { Path?: string } };
  /** Its mounts; a named volume's has its `Name`. */
  Mounts?: { Type: string; Name?: string }[];
  /** A pod member shows its pod's address (they share the network namespace). */
  NetworkSettings?: {
    IPAddress?: string;
    Networks?: Record<string, { IPAddress?: string }>;
  };
}

/** `GET /pods/{id}/json`. */
export interface PodInspect {
  Id: string;
  Name: string;
  State: string;
  InfraContainerID: string;
  Labels: Record<string, string> | null;
  Containers?: { Id: string; Name: string; State: string }[];
}

/** An item of `GET /containers/json?all=true`. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  ExitCode: number;
  /** Unix seconds. */
  StartedAt: number;
  ExitedAt: number;
  Pid: number;
  Labels: Record<string, string> | null;
  Pod: string;
  PodName: string;
  IsInfra: boolean;
}

/** One line of `GET /events?stream=true`. */
export interface LibpodEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time: number;
  timeNano?: number;
}
