throw new Error("mindmap-definition-WVAN44T4.mjs is not part of pathproof's page");
