throw new Error("xychartDiagram-GDYJKCDI.mjs is not part of pathproof's page");
