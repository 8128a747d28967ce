throw new Error("railroadDiagram-JIZHGYPL.mjs is not part of pathproof's page");
