throw new Error("vennDiagram-SHRQU5PJ.mjs is not part of pathproof's page");
