throw new Error("cynefinDiagram-NJNITYFG.mjs is not part of pathproof's page");
