throw new Error("wardleyDiagram-F3OXNVQS.mjs is not part of pathproof's page");
