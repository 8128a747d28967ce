throw new Error("stateDiagram-v2-ATKHQDJO.mjs is not part of pathproof's page");
