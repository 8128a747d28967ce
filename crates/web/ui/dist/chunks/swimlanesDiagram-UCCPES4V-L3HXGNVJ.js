throw new Error("swimlanesDiagram-UCCPES4V.mjs is not part of pathproof's page");
