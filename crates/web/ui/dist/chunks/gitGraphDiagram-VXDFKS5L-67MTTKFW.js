throw new Error("gitGraphDiagram-VXDFKS5L.mjs is not part of pathproof's page");
