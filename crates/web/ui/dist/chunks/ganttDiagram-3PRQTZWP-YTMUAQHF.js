throw new Error("ganttDiagram-3PRQTZWP.mjs is not part of pathproof's page");
