throw new Error("requirementDiagram-AXW2TVFA.mjs is not part of pathproof's page");
