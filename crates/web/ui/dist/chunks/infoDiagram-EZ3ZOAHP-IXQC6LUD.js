throw new Error("infoDiagram-EZ3ZOAHP.mjs is not part of pathproof's page");
