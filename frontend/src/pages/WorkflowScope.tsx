// /w/:workflow/...: the workflow from the URL scopes every page under it. An unknown or
// disabled workflow is "not found". Entering a workflow re-reads the clinic, so a field added
// to its schema in the database shows up without a code change or a new sign-in.
import { useEffect } from 'react';
import { Outlet, useOutletContext, useParams } from 'react-router-dom';
import type { FieldDef } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { useScopeWorkflow } from '../components/AppShell';
import { schemaOf, workflowLabel } from '../schema/fields';
import { NotFoundPage } from './NotFoundPage';

export interface WorkflowScopeValue {
  workflow: string;
  label: string;
  fields: FieldDef[];
}

export function useWorkflowScope(): WorkflowScopeValue {
  return useOutletContext<WorkflowScopeValue>();
}

export function WorkflowScope() {
  const { workflow = '' } = useParams();
  const { org, refresh } = useAuth();
  const fields = schemaOf(org, workflow);
  useScopeWorkflow(fields ? workflow : null);

  useEffect(() => {
    void refresh();
  }, [workflow, refresh]);

  if (!fields) return <NotFoundPage what="workflow" />;
  const value: WorkflowScopeValue = { workflow, label: workflowLabel(org, workflow), fields };
  return <Outlet context={value} />;
}
